/** `enforce`: retention rules. */
import type { Command } from 'commander';
import { checkTimeZone, parseRetentionRules } from '@blockvault/core';
import type { Cli } from '../cli-context.ts';
import { enforceText, versionJson } from '../format.ts';
import { examplesText } from './examples.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('enforce')
    .description('apply retention rules, e.g. latest3,hours48,days7,weeks4,months12,years3')
    .argument('<rules>', 'retention rules')
    .argument('[name]', 'only this volume')
    .option('--dry-run', 'print what would be removed; remove nothing')
    .option('--time-zone <tz>', 'IANA time zone of the calendar periods', 'UTC')
    .addHelpText(
      'after',
      examplesText(
        ['blockvault enforce latest3,days7,weeks4,months12 --dry-run', 'what these rules would remove'],
        ['blockvault enforce latest3,days7 vm1 --time-zone Europe/Berlin', "apply them to vm1, days counted in Berlin's calendar"],
      ),
    )
    .action(async (rulesText: string, name: string | undefined, opts: { dryRun?: boolean; timeZone: string }, c: Command) => {
      const rules = parseRetentionRules(rulesText);
      const timeZone = checkTimeZone(opts.timeZone);
      await cli.localOrJob(
        c,
        async (remote, remoteG) => {
          const enforce = { rules: rulesText, name: name ?? '', dryRun: opts.dryRun ?? false, timeZone };
          const r = await remote.run({ requestId: '', enforce }, 'enforce');
          cli.print(remoteG, r, () => enforceText(r as Parameters<typeof enforceText>[0], opts.dryRun ?? false));
        },
        async (repo, g) => {
          const decisions = await repo.enforce(rules, { name, dryRun: opts.dryRun, timeZone });
          cli.print(
            g,
            decisions.map((d) => ({ version: versionJson(d.version), keep: d.keep, removed: d.removed, reasons: d.reasons })),
            () => enforceText(decisions, opts.dryRun ?? false),
          );
        },
      );
    });
}
