/** `restore`: a version to a target URL, locally, as a job, or from the blob store alone. */
import type { Command } from 'commander';
import { DamagedBlocksError, type Repository } from '@blockvault/core';
import { openVersionFromBlobStore } from '@blockvault/platform';
import { configOf, type Cli, type GlobalOptions } from '../cli-context.ts';
import { blocks, bytes, duration, rate, restoreJson } from '../format.ts';
import { progressBar } from '../progress.ts';
import { examplesText } from './examples.ts';
import { parseBlockId, UID_ARGUMENT } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('restore')
    .description('restore version UID to TARGET (a URL); every block is verified')
    .argument('<uid>', `${UID_ARGUMENT}; the full uid with --without-metadata`)
    .argument('<target>', 'target URL, e.g. file:///tmp/vm1.img')
    .option('--sparse', 'leave holes for sparse blocks instead of writing zeros')
    .option('--force', 'overwrite an existing target')
    .option('--continue-from <block>', 'resume an interrupted restore at this block id', parseBlockId)
    .addHelpText(
      'after',
      examplesText(
        ['blockvault restore 3f2a9c1e file:///var/tmp/vm1.img', 'restore a version into a new file (every block is verified)'],
        ['blockvault restore 3f2a9c1e rbd://rbd/vm1-restored', 'restore into a new RBD image'],
        ['blockvault restore 3f2a9c1e file:///dev/vg0/vm1 --force', 'overwrite an existing block device'],
      ),
    )
    .option('--without-metadata', 'restore from the blob store alone (the metadata copy stored with the version)')
    .action(
      async (
        ref: string,
        target: string,
        opts: { sparse?: boolean; force?: boolean; continueFrom?: number; withoutMetadata?: boolean },
        cmd: Command,
      ) => {
        const report = (
          g: GlobalOptions,
          json: unknown,
          uid: string,
          result: { blocksRestored: number; bytesRestored: number; durationSeconds: number; damagedBlocks: number[] },
        ): void => {
          cli.print(
            g,
            json,
            () =>
              `restored version ${uid} to ${target}: ${blocks(result.blocksRestored)} (${bytes(result.bytesRestored)}) in ${duration(result.durationSeconds)} (${rate(result.bytesRestored, result.durationSeconds)})`,
          );
          if (result.damagedBlocks.length > 0)
            throw new DamagedBlocksError(`restore of ${uid} completed with errors`, result.damagedBlocks);
        };
        const local = async (repo: Repository, g: GlobalOptions): Promise<void> => {
          // The blob store alone lists no versions: there the uid is taken whole.
          const uid = opts.withoutMetadata ? ref : (await repo.findVersion(ref)).uid;
          const bar = progressBar('restore');
          const result = await repo
            .restore({ uid, target, sparse: opts.sparse, force: opts.force, continueFrom: opts.continueFrom, onProgress: bar.listener })
            .finally(bar.stop);
          report(g, restoreJson(result, target), uid, result);
        };
        // From the blob store alone: always here, never as a job (the deployment's metadata is what is missing).
        if (opts.withoutMetadata) return withDetached(cmd, local);
        await cli.localOrJob(
          cmd,
          async (remote, g) => {
            const uid = await remote.versionUid(ref);
            const restore = { uid, target, sparse: opts.sparse ?? false, force: opts.force ?? false, continueFrom: opts.continueFrom ?? 0 };
            const result = (await remote.run({ requestId: '', restore }, 'restore')) as {
              blocksRestored: number;
              bytesRestored: number;
              durationSeconds: number;
              damagedBlocks: number[];
            };
            report(g, result, uid, result);
          },
          local,
        );
      },
    );

  const withDetached = async <T>(cmd: Command, fn: (repo: Repository, g: GlobalOptions) => Promise<T>): Promise<T> => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const uid = cmd.args[0] as string;
    const detached = await openVersionFromBlobStore(configOf(g), uid);
    try {
      return await fn(detached.repository, g);
    } finally {
      await detached.close();
    }
  };
}
