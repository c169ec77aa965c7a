/** `restore`: a version to a target URL, locally, as a job, or from the blob store alone. */
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { DamagedBlocksError, InvalidArgumentError, type Repository } from '@blockvault/core';
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
    .option(
      '--live',
      'instant restore into a new RBD image: usable at once (an import-only live migration reading from this command), copied in the background; the command ends when the copy is committed',
    )
    .action(
      async (
        ref: string,
        target: string,
        opts: { sparse?: boolean; force?: boolean; continueFrom?: number; withoutMetadata?: boolean; live?: boolean },
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
        if (opts.live) {
          const other = (['sparse', 'force', 'continueFrom', 'withoutMetadata'] as const).find((o) => opts[o] !== undefined);
          if (other)
            throw new InvalidArgumentError(
              `--live creates a new image and takes no --${other.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
            );
          if (!target.startsWith('rbd://'))
            throw new InvalidArgumentError(`--live restores into a new RBD image (rbd://POOL/IMAGE), not ${target}`);
          if (cli.globals(cmd).server)
            throw new InvalidArgumentError('--live serves the version from this command: run it without --server, where the repository is');
          return cli.withRepo(cmd, (repo, g) => restoreLive(cli, repo, g, ref, target));
        }
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

/**
 * `restore --live`: serves the version on a private loopback HTTP endpoint (an unguessable path,
 * one version) and makes the RBD image an import-only live migration from it; every block the
 * image reads before the copy reaches it comes from here, verified like any restore.
 */
async function restoreLive(cli: Cli, repo: Repository, g: GlobalOptions, ref: string, target: string): Promise<void> {
  const { HttpRangeServer, versionCatalog } = await import('@blockvault/service-access');
  const version = await repo.findVersion(ref);
  if (!version.valid)
    throw new InvalidArgumentError(`version ${version.uid} is not valid (incomplete or damaged): --live restores valid versions only`);
  const { module, url } = repo.ctx.io.resolve(target);
  const live = module as Partial<{
    importLive(url: URL, source: string, hooks: { onUsable?: () => void; onProgress?: (percent: number) => void }): Promise<void>;
  }>;
  if (typeof live.importLive !== 'function') throw new InvalidArgumentError(`--live restores into rbd://POOL/IMAGE only, not ${target}`);
  const all = versionCatalog(repo);
  const basePath = `/live-${randomBytes(16).toString('hex')}`;
  const http = new HttpRangeServer({
    exports: { list: async () => [], open: async (name) => (name === version.uid ? all.open(name) : undefined) },
    basePath,
    onWarning: (message) => cli.io.err(`blockvault: restore --live: ${message}`),
  });
  const bound = await http.listen('127.0.0.1', 0);
  const started = performance.now();
  let usableAfter = 0;
  const bar = progressBar('live restore');
  // rbd reports whole percents of the copy; the bar speaks blocks like every other restore.
  const onProgress = (percent: number): void => {
    const elapsed = (performance.now() - started) / 1000;
    const bytesDone = Math.round((version.sizeBytes * percent) / 100);
    const bytesPerSecond = elapsed > 0 ? bytesDone / elapsed : 0;
    bar.listener?.({
      operation: 'restore',
      versionUid: version.uid,
      blocksDone: Math.round((version.size * percent) / 100),
      blocksTotal: version.size,
      bytesDone,
      bytesPerSecond,
      etaSeconds: bytesPerSecond > 0 ? (version.sizeBytes - bytesDone) / bytesPerSecond : null,
    });
  };
  try {
    await live.importLive.call(module, url, `http://127.0.0.1:${bound.port}${basePath}/v1/versions/${version.uid}/raw`, {
      onUsable: () => {
        usableAfter = (performance.now() - started) / 1000;
        cli.io.err(`blockvault: ${target} is usable now; copying its blocks in the background (keep this command running until it ends)`);
      },
      onProgress,
    });
  } finally {
    bar.stop();
    await http.close();
  }
  const seconds = (performance.now() - started) / 1000;
  cli.print(
    g,
    { uid: version.uid, target, live: true, sizeBytes: version.sizeBytes, usableAfterSeconds: usableAfter, durationSeconds: seconds },
    () =>
      `restored version ${version.uid} to ${target} live: usable after ${duration(usableAfter)}, ${bytes(version.sizeBytes)} copied and committed in ${duration(seconds)} (${rate(version.sizeBytes, seconds)})`,
  );
}
