/** Finding rot: `scrub`, `deep-scrub` and their batch forms. */
import type { Command } from 'commander';
import { DamagedBlocksError, IntegrityError, InvalidVersionStateError, type ScrubResult } from '@blockvault/core';
import type { Cli } from '../cli-context.ts';
import { blocks, scrubText } from '../format.ts';
import { parsePercent, UID_ARGUMENT } from './parse.ts';
import { examplesText } from './examples.ts';

export function register(program: Command, cli: Cli): void {
  for (const deep of [false, true]) {
    const name = deep ? 'deep-scrub' : 'scrub';
    const cmd = program
      .command(name)
      .description(
        deep
          ? 're-read and re-hash the blocks of a version (and compare them with --source)'
          : 'check that the blobs of a version exist with the right size',
      )
      .argument('<uid>', UID_ARGUMENT)
      .option('--percent <p>', 'check a random P% of the blocks', parsePercent, 100)
      .addHelpText(
        'after',
        deep
          ? examplesText(
              ['blockvault deep-scrub 3f2a9c1e', 're-read and re-hash every block of a version'],
              ['blockvault deep-scrub 3f2a9c1e --percent 10', 'a random tenth of them (a nightly sample)'],
              ['blockvault deep-scrub 3f2a9c1e --source rbd://rbd/vm1@nightly-2', 'also compare with the snapshot it was taken from'],
            )
          : examplesText([
              'blockvault scrub 3f2a9c1e',
              "check that every blob of a version exists with the right size (no blob's data read)",
            ]),
      );
    if (deep) cmd.option('--source <url>', 'also compare with this source; a mismatch fails the scrub but marks nothing');
    cmd.action(async (ref: string, opts: { percent: number; source?: string }, c: Command) => {
      await cli.localOrJob(
        c,
        async (remote, remoteG) => {
          const uid = await remote.versionUid(ref);
          const r = (await remote.run(
            { requestId: '', scrub: { uid, deep, percent: opts.percent, source: opts.source ?? '' } },
            name,
          )) as ScrubResult;
          cli.print(remoteG, r, () => scrubText(r));
          failOnDamage([r]);
        },
        async (repo, g) => {
          const r = await repo.scrub((await repo.findVersion(ref)).uid, { percent: opts.percent, deep, source: opts.source });
          cli.print(g, r, () => scrubText(r));
          failOnDamage([r]);
        },
      );
    });

    program
      .command(`batch-${name}`)
      .description(`${name} many versions; each blob is checked once per run`)
      .argument('[name]', 'only versions of this volume')
      .option('--percent <p>', 'check a random P% of the blocks of each version', parsePercent, 100)
      .option('--versions-percent <q>', 'scrub a random Q% of the versions', parsePercent, 100)
      .action(async (volume: string | undefined, opts: { percent: number; versionsPercent: number }, c: Command) => {
        await cli.withRepo(c, async (repo, g) => {
          const results = await repo.batchScrub({ name: volume, percent: opts.percent, versionsPercent: opts.versionsPercent, deep });
          cli.print(g, results, () => (results.length ? results.map(scrubText).join('\n') : 'no versions scrubbed'));
          failOnDamage(results);
        });
      });
  }
}

/**
 * Damage or a source mismatch ends a scrub with exit 5; an incomplete version (its backup did
 * not finish) with exit 4, naming the command that finishes it; not being able to run, 2-4 or 6.
 */
function failOnDamage(results: readonly ScrubResult[]): void {
  const damaged = results.flatMap((r) => r.damagedBlocks);
  if (damaged.length > 0) throw new DamagedBlocksError('scrub found damage', damaged);
  const incomplete = results.filter((r) => r.incomplete).map((r) => r.uid);
  if (incomplete.length > 0) {
    throw new InvalidVersionStateError(
      `${incomplete.length === 1 ? `version ${incomplete[0]} is` : `versions ${incomplete.join(', ')} are`} incomplete: not damaged, but its backup did not finish; finish it with \`blockvault backup SOURCE NAME --continue UID\``,
    );
  }
  const mismatches = results.flatMap((r) => r.sourceMismatches);
  if (mismatches.length > 0)
    throw new IntegrityError(
      `deep-scrub: ${blocks(mismatches.length)} ${mismatches.length === 1 ? 'differs' : 'differ'} from the source (the backup's blocks were left valid; back up the source again if it is the truth)`,
    );
}
