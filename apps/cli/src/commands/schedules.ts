/** Schedules and their checks: `schedule set|rm|ls`, `due`, `sla`. */
import type { Command } from 'commander';
import { parseDuration, parseRetentionRules } from '@blockvault/core';
import type { Cli } from '../cli-context.ts';
import { ExitCode } from '../exit-codes.ts';
import { period, schedulesTable } from '../format.ts';
import { examplesText } from './examples.ts';
import { parseCount } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  const schedule = program.command('schedule').description('per-volume backup schedules (interval, keep, sla)');
  schedule
    .command('set')
    .description('define or replace a schedule: versions of NAME tagged SCHEDULER, every INTERVAL')
    .argument('<name>', 'volume')
    .argument('<scheduler>', 'the tag its versions carry, e.g. daily')
    .requiredOption('--interval <duration>', 'e.g. 1d, 12h, 30m')
    .requiredOption('--keep <n>', 'versions to keep', parseCount)
    .option('--sla <duration>', 'tolerance around the interval', '1h')
    .option('--source <url>', 'what `serve` backs up when the schedule is due')
    .option('--retention <rules>', 'retention rules `serve` enforces daily, e.g. latest3,days7')
    .addHelpText(
      'after',
      examplesText([
        'blockvault schedule set vm1 daily --interval 1d --keep 7 --sla 2h --source file:///var/lib/images/vm1.img --retention latest7',
        'back vm1 up daily under `serve`, keep 7, breach the SLA when one is 2 h late',
      ]),
    )
    .action(
      async (
        name: string,
        scheduler: string,
        opts: { interval: string; keep: number; sla: string; source?: string; retention?: string },
        c: Command,
      ) => {
        if (opts.retention) parseRetentionRules(opts.retention);
        const s = {
          name,
          scheduler,
          intervalSeconds: parseDuration(opts.interval),
          keep: opts.keep,
          slaSeconds: parseDuration(opts.sla),
          ...(opts.source ? { source: opts.source } : {}),
          ...(opts.retention ? { retention: opts.retention } : {}),
        };
        await cli.withRepo(c, async (repo, g) => {
          const all = await repo.setSchedule(s);
          cli.print(
            g,
            all,
            () => `schedule ${scheduler} for ${name}: every ${period(s.intervalSeconds)}, keep ${s.keep}, sla ${period(s.slaSeconds)}`,
          );
        });
      },
    );
  schedule
    .command('rm')
    .description('remove a schedule (its versions stay)')
    .argument('<name>', 'volume')
    .argument('<scheduler>', 'scheduler tag')
    .action(async (name: string, scheduler: string, _opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const all = await repo.removeSchedule(name, scheduler);
        cli.print(g, all, () => `removed schedule ${scheduler} for ${name}`);
      });
    });
  schedule
    .command('ls')
    .description('list the schedules')
    .action(async (_opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const all = await repo.schedules();
        cli.print(g, all, () => schedulesTable(all));
      });
    });

  program
    .command('due')
    .description('volumes whose scheduled backup is due now (30 s early is fine)')
    .argument('[name]', 'only this volume')
    .action(async (name: string | undefined, _opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const due = await repo.due(name);
        cli.print(g, due, () => due.map((s) => `${s.name} ${s.scheduler}`).join('\n') || 'nothing due');
      });
    });

  program
    .command('sla')
    .description('SLA breaches of the schedules (exit 7 when there are any)')
    .argument('[name]', 'only this volume')
    .action(async (name: string | undefined, _opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const breaches = await repo.sla(name);
        cli.print(
          g,
          breaches,
          () => breaches.flatMap((b) => b.breaches.map((x) => `${b.schedule.name}: ${x}`)).join('\n') || 'no SLA breaches',
        );
        if (breaches.length > 0) process.exitCode = ExitCode.SlaBreached;
      });
    });
}
