/** `cleanup`: delete blobs no version references. */
import type { Command } from 'commander';
import { DEFAULT_GRACE_SECONDS, type CleanupResult } from '@blockvault/core';
import type { Cli } from '../cli-context.ts';
import { cleanupText } from '../format.ts';
import { parseSeconds } from './parse.ts';
import { examplesText } from './examples.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('cleanup')
    .description('delete blobs no version references (safe while backups run)')
    .option('--grace <seconds>', 'only blobs unreferenced for this long (0: all, now)', parseSeconds, DEFAULT_GRACE_SECONDS)
    .option('--full', 'also compare every object in the blob store with the metadata')
    .option('--prefix <p>', 'with --full: only objects whose key starts with this', '')
    .option('--dry-run', 'report what would be deleted')
    .addHelpText(
      'after',
      examplesText(
        ['blockvault cleanup --dry-run', 'what cleanup would delete now'],
        ['blockvault cleanup', 'delete blobs unreferenced for an hour (safe while backups run)'],
        ['blockvault cleanup --full', 'also delete objects in the blob store that no metadata knows'],
      ),
    )
    .action(async (opts: { grace: number; full?: boolean; prefix: string; dryRun?: boolean }, c: Command) => {
      await cli.localOrJob(
        c,
        async (remote, remoteG) => {
          const cleanup = { graceSeconds: opts.grace, full: opts.full ?? false, prefix: opts.prefix, dryRun: opts.dryRun ?? false };
          const r = await remote.run({ requestId: '', cleanup }, 'cleanup');
          cli.print(remoteG, r, () => cleanupText(r as CleanupResult));
        },
        async (repo, g) => {
          const r = await repo.cleanup({ graceSeconds: opts.grace, full: opts.full, prefix: opts.prefix, dryRun: opts.dryRun });
          cli.print(g, { ...r, cutoff: r.cutoff.toISOString() }, () => cleanupText(r));
        },
      );
    });
}
