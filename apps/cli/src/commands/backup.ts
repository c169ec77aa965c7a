/** `backup`: a source URL as a new version, locally or as a job. */
import type { Command } from 'commander';
import { InvalidArgumentError, parseHints, type BackupStats } from '@blockvault/core';
import type { Cli } from '../cli-context.ts';
import { statsText, versionJson } from '../format.ts';
import { readInput } from '../input.ts';
import { progressBar } from '../progress.ts';
import { examplesText } from './examples.ts';
import { collect, parseDate } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('backup')
    .description('back up SOURCE (a URL) as a new version of volume NAME')
    .argument('<source>', 'source URL, e.g. file:///var/lib/images/vm1.img')
    .argument('<name>', 'volume name, e.g. vm1')
    .option('--snapshot <name>', 'snapshot name to record (default: the snapshot of an rbd:// source)')
    .option(
      '--hints <file>',
      'changed regions: `rbd diff --format=json` output (one line or pretty-printed); for rbd:// derived from RBD when omitted',
    )
    .option('--from <uid>', 'base version: blocks the hints leave untouched are taken from it')
    .option('--continue <uid>', 'continue an interrupted (invalid) version from the same source')
    .option('--tag <tag>', 'tag the version (repeatable; without it: automatic b_daily/b_weekly/b_monthly)', collect)
    .option('--expire <date>', 'expiry date (ISO 8601)')
    .addHelpText(
      'after',
      examplesText(
        ['blockvault backup file:///var/lib/images/vm1.img vm1', 'back up an image file (or a block device: file:///dev/vg0/vm1)'],
        [
          'blockvault backup rbd://rbd/vm1@nightly-2 vm1 --from 3f2a9c1e',
          'back up an RBD snapshot, reading only what changed since version 3f2a9c1e',
        ],
        ['blockvault backup file:///var/lib/images/vm1.img vm1 --continue 7b0e44d2', 'finish a backup that was interrupted'],
        ['blockvault --server scheduler:7070 backup file:///images/vm1.img vm1', "run it as a job on a deployment's workers"],
      ),
    )
    .action(
      async (
        source: string,
        name: string,
        opts: { snapshot?: string; hints?: string; from?: string; continue?: string; tag?: string[]; expire?: string },
        cmd: Command,
      ) => {
        const hints = opts.hints ? parseHints(await readHints(opts.hints), opts.hints) : undefined;
        const expire = opts.expire ? parseDate(opts.expire) : null;
        await cli.localOrJob(
          cmd,
          async (remote, remoteG) => {
            const continueUid = opts.continue && (await remote.versionUid(opts.continue));
            const backup = {
              ...(continueUid ? { continueUid } : {}),
              source,
              name,
              snapshotName: opts.snapshot ?? rbdSnapshot(source),
              hintsJson: hints ? JSON.stringify(hints) : '',
              fromUid: opts.from ? await remote.versionUid(opts.from) : '',
              tags: opts.tag ?? [],
              expire: expire?.toISOString() ?? '',
            };
            const result = (await remote.run({ requestId: '', backup }, 'backup')) as { version: { uid: string }; stats: BackupStats };
            cli.print(remoteG, result, () => `backed up ${source} as version ${result.version.uid} (${name})\n${statsText(result.stats)}`);
          },
          async (repo, g) => {
            const bar = progressBar('backup');
            const result = await repo
              .backup({
                source,
                name,
                snapshotName: opts.snapshot ?? rbdSnapshot(source),
                hints,
                fromUid: opts.from && (await repo.findVersion(opts.from)).uid,
                continueUid: opts.continue && (await repo.findVersion(opts.continue)).uid,
                tags: opts.tag ?? [],
                expire,
                onProgress: bar.listener,
              })
              .finally(bar.stop);
            cli.print(
              g,
              { version: versionJson(result.version), stats: result.stats },
              () => `backed up ${source} as version ${result.version.uid} (${name})\n${statsText(result.stats)}`,
            );
          },
        );
      },
    );
}

/** `rbd://pool/image@snap` records `snap`, so that the next backup can diff against it. */
function rbdSnapshot(source: string): string {
  return /^rbd:\/\/[^@]+@([^/@?#]+)$/.exec(source)?.[1] ?? '';
}

async function readHints(file: string): Promise<string> {
  try {
    return await readInput(file);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read hints file ${file}: ${(err as Error).message}`, { cause: err });
  }
}
