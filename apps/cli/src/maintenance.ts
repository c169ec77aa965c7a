/** Commands that keep a repository healthy: scrubs, cleanup, retention, schedules, export/import. */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import {
  checkTimeZone,
  DamagedBlocksError,
  DEFAULT_GRACE_SECONDS,
  InvalidArgumentError,
  IntegrityError,
  parseDuration,
  parseExport,
  parseRetentionRules,
  type ScrubResult,
} from '@blockvault/core';
import { openForRecovery, SERVE_TARGETS, type ServeTarget } from '@blockvault/platform';
import { JobState, type Job } from '@blockvault/proto';
import { configOf, withRemote, type Cli } from './cli-context.ts';
import { ExitCode } from './exit-codes.ts';
import { bytes, versionJson } from './format.ts';

function parsePercent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new CommanderArgumentError('expected a percentage in (0, 100]');
  return n;
}

function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected whole seconds');
  return Number(value);
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected a non-negative integer');
  return Number(value);
}

function scrubText(r: ScrubResult): string {
  const state = r.incomplete ? 'INCOMPLETE' : r.damagedBlocks.length > 0 ? `DAMAGED blocks ${r.damagedBlocks.join(', ')}` : 'ok';
  const source = r.sourceMismatches.length > 0 ? `; differs from the source at blocks ${r.sourceMismatches.join(', ')}` : '';
  return `${r.deep ? 'deep-scrub' : 'scrub'} ${r.uid}: ${r.blocksChecked} blocks (${bytes(r.bytesChecked)}) checked: ${state}${source}; valid: ${r.valid ? 'yes' : 'no'}`;
}

/** Damage or a source mismatch ends a scrub with exit 5; not being able to run, with 2-4 or 6. */
function failOnDamage(results: readonly ScrubResult[]): void {
  const damaged = results.flatMap((r) => r.damagedBlocks);
  if (damaged.length > 0 || results.some((r) => r.incomplete)) throw new DamagedBlocksError('scrub found damage', damaged);
  const mismatches = results.flatMap((r) => r.sourceMismatches);
  if (mismatches.length > 0) throw new IntegrityError(`deep-scrub: ${mismatches.length} block(s) differ from the source (the backup's blocks were left valid)`);
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerMaintenance(program: Command, cli: Cli): void {
  for (const deep of [false, true]) {
    const name = deep ? 'deep-scrub' : 'scrub';
    const cmd = program
      .command(name)
      .description(deep ? 're-read and re-hash the blocks of a version (and compare them with --source)' : 'check that the blobs of a version exist with the right size')
      .argument('<uid>', 'version uid')
      .option('--percent <p>', 'check a random P% of the blocks', parsePercent, 100);
    if (deep) cmd.option('--source <url>', 'also compare with this source; a mismatch fails the scrub but marks nothing');
    cmd.action(async (uid: string, opts: { percent: number; source?: string }, c: Command) => {
      const remoteG = cli.globals(c);
      if (remoteG.server) {
        const r = (await withRemote(cli, remoteG, (x) => x.run({ requestId: '', scrub: { uid, deep, percent: opts.percent, source: opts.source ?? '' } }, name))) as ScrubResult;
        cli.print(remoteG, r, () => scrubText(r));
        failOnDamage([r]);
        return;
      }
      await cli.withRepo(c, async (repo, g) => {
        const r = await repo.scrub(uid, { percent: opts.percent, deep, source: opts.source });
        cli.print(g, r, () => scrubText(r));
        failOnDamage([r]);
      });
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

  program
    .command('cleanup')
    .description('delete blobs no version references (safe while backups run)')
    .option('--grace <seconds>', 'only blobs unreferenced for this long (0: all, now)', parseSeconds, DEFAULT_GRACE_SECONDS)
    .option('--full', 'also compare every object in the blob store with the metadata')
    .option('--prefix <p>', 'with --full: only objects whose key starts with this', '')
    .option('--dry-run', 'report what would be deleted')
    .action(async (opts: { grace: number; full?: boolean; prefix: string; dryRun?: boolean }, c: Command) => {
      const remoteG = cli.globals(c);
      if (remoteG.server) {
        const cleanup = { graceSeconds: opts.grace, full: opts.full ?? false, prefix: opts.prefix, dryRun: opts.dryRun ?? false };
        const r = await withRemote(cli, remoteG, (x) => x.run({ requestId: '', cleanup }, 'cleanup'));
        cli.print(remoteG, r, () => JSON.stringify(r));
        return;
      }
      await cli.withRepo(c, async (repo, g) => {
        const r = await repo.cleanup({ graceSeconds: opts.grace, full: opts.full, prefix: opts.prefix, dryRun: opts.dryRun });
        cli.print(g, { ...r, cutoff: r.cutoff.toISOString() }, () =>
          `${r.dryRun ? 'would delete' : 'deleted'} ${r.blobsDeleted} blobs (${bytes(r.bytesDeleted)}), ${r.orphansDeleted} superseded copies, ${r.strayObjectsDeleted} stray objects, ${r.segmentsDeleted} segments; ${r.spared} spared (in use by running backups)`,
        );
      });
    });

  program
    .command('enforce')
    .description('apply retention rules, e.g. latest3,hours48,days7,weeks4,months12,years3')
    .argument('<rules>', 'retention rules')
    .argument('[name]', 'only this volume')
    .option('--dry-run', 'print what would be removed; remove nothing')
    .option('--time-zone <tz>', 'IANA time zone of the calendar periods', 'UTC')
    .action(async (rulesText: string, name: string | undefined, opts: { dryRun?: boolean; timeZone: string }, c: Command) => {
      const rules = parseRetentionRules(rulesText);
      const timeZone = checkTimeZone(opts.timeZone);
      const remoteG = cli.globals(c);
      if (remoteG.server) {
        const enforce = { rules: rulesText, name: name ?? '', dryRun: opts.dryRun ?? false, timeZone };
        const r = await withRemote(cli, remoteG, (x) => x.run({ requestId: '', enforce }, 'enforce'));
        cli.print(remoteG, r, () => JSON.stringify(r, null, 2));
        return;
      }
      await cli.withRepo(c, async (repo, g) => {
        const decisions = await repo.enforce(rules, { name, dryRun: opts.dryRun, timeZone });
        cli.print(
          g,
          decisions.map((d) => ({ version: versionJson(d.version), keep: d.keep, removed: d.removed, reasons: d.reasons })),
          () =>
            decisions
              .map((d) => `${d.keep ? 'keep  ' : opts.dryRun ? 'would remove' : d.removed ? 'removed' : 'kept  '} ${d.version.name} ${d.version.uid} ${d.version.date.toISOString()}${d.reasons.length ? ` (${d.reasons.join('; ')})` : ''}`)
              .join('\n') || 'no versions',
        );
      });
    });

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
    .action(async (name: string, scheduler: string, opts: { interval: string; keep: number; sla: string; source?: string; retention?: string }, c: Command) => {
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
        cli.print(g, all, () => `schedule ${scheduler} for ${name}: every ${s.intervalSeconds} s, keep ${s.keep}, sla ${s.slaSeconds} s`);
      });
    });
  schedule
    .command('rm')
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
    .action(async (_opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const all = await repo.schedules();
        cli.print(g, all, () => all.map((s) => `${s.name} ${s.scheduler}: every ${s.intervalSeconds} s, keep ${s.keep}, sla ${s.slaSeconds} s`).join('\n') || 'no schedules');
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
        cli.print(g, breaches, () => breaches.flatMap((b) => b.breaches.map((x) => `${b.schedule.name}: ${x}`)).join('\n') || 'no SLA breaches');
        if (breaches.length > 0) process.exitCode = ExitCode.SlaBreached;
      });
    });

  program
    .command('export')
    .description("write a version's metadata as a self-describing document (FILE or - for stdout)")
    .argument('<uid>', 'version uid')
    .argument('<file>', 'output file, or - for stdout')
    .action(async (uid: string, file: string, _opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo) => {
        const text = JSON.stringify(await repo.exportVersion(uid));
        if (file === '-') cli.io.out(text);
        else await writeFile(file, text, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? new InvalidArgumentError(`${file} exists; choose a new file`) : new InvalidArgumentError(`cannot write ${file}: ${err.message}`);
        });
      });
    });

  program
    .command('import')
    .description('record a version from an export (FILE or - for stdin)')
    .argument('<file>', 'export file, or - for stdin')
    .action(async (file: string, _opts: unknown, c: Command) => {
      const text = await readInput(file).catch((err: Error) => {
        throw new InvalidArgumentError(`cannot read ${file}: ${err.message}`);
      });
      const doc = parseExport(text, file);
      await cli.withRepo(c, async (repo, g) => {
        const v = await repo.importVersion(doc);
        cli.print(g, versionJson(v), () => `imported version ${v.uid} (${v.name})${v.valid ? '' : ' - some of its blobs are missing: it is marked invalid'}`);
      });
    });

  program
    .command('serve')
    .description('run services: the job API (scheduler), a worker, both (all), or the blob-store, reader or metadata service; stops on SIGINT/SIGTERM')
    .addOption(new Option('--target <target>', 'which modules run here: all (job API, scheduler and a worker in one process), or one service').choices([...SERVE_TARGETS]).default('all'))
    .option('--listen <host:port>', 'the gRPC address (default: $BLOCKVAULT_GRPC_LISTEN, else job API 127.0.0.1:7070, blob-store :7071, reader :7072, metadata :7073)')
    .option('--nats <url>', 'NATS with JetStream (default: $BLOCKVAULT_NATS_URL; unset: `all` queues jobs in process, scheduler and worker use nats://127.0.0.1:4222)')
    .action(async (opts: { target: ServeTarget; listen?: string; nats?: string }, c: Command) => {
      const g = cli.globals(c);
      const config = configOf(g, { ...(opts.listen ? { listen: opts.listen } : {}), ...(opts.nats ? { natsUrl: opts.nats } : {}) });
      const { serve, startTelemetry } = await import('@blockvault/platform/serve');
      // Tracing (OTEL_* variables) before anything that makes spans.
      const telemetry = await startTelemetry(`blockvault-${opts.target}`);
      const running = await serve({ target: opts.target, config });
      cli.print(g, { modules: running.modules, port: running.port ?? null, metricsPort: running.metricsPort ?? null, queue: running.queue ?? null, pid: process.pid }, () => `serving ${running.modules.join(', ')}${running.port ? ` (gRPC on port ${running.port})` : ''}${running.queue ? ` (jobs queued ${running.queue === 'jetstream' ? 'in NATS JetStream' : 'in process'})` : ''}${running.metricsPort ? ` (metrics on port ${running.metricsPort})` : ''}`);
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await running.stop();
      await telemetry.shutdown();
    });

  program
    .command('rekey')
    .description('re-wrap every data key under the first master key of BLOCKVAULT_ENCRYPTION_KEY_FILE (blobs are not rewritten); then the old keys can be removed from the file')
    .action(async (_opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const r = await repo.rekey();
        cli.print(g, r, () => `re-wrapped ${r.rewrapped.length} data key(s) under master key ${r.masterKey}; ${r.alreadyCurrent.length} already were`);
      });
    });

  const key = program.command('key').description('master keys for encryption');
  key
    .command('new')
    .description('write a new random master key first into FILE (created mode 600; existing keys stay below it for rekey)')
    .argument('<file>', 'the key file (BLOCKVAULT_ENCRYPTION_KEY_FILE)')
    .option('--id <id>', 'the key id (default: key-<date>)')
    .action(async (file: string, opts: { id?: string }, c: Command) => {
      const g = cli.globals(c);
      const id = opts.id ?? `key-${cli.clock.now().toISOString().slice(0, 10)}`;
      const { addMasterKey } = await import('@blockvault/platform');
      const ids = await addMasterKey(file, id);
      cli.print(g, { file, id, keys: ids }, () => `added master key ${id} to ${file} (keys now: ${ids.join(', ')}); new blobs are encrypted with it once BLOCKVAULT_ENCRYPTION_KEY_FILE=${file}`);
    });

  const token = program.command('token').description('job API tokens');
  token
    .command('new')
    .description('make a random job API token: prints the token (give it to its user; it is shown once) and the line for BLOCKVAULT_TOKENS_FILE (its SHA-256, not the token)')
    .argument('<name>', 'who or what uses it, e.g. ci-backups')
    .option('--permissions <list>', 'comma-separated: read, submit (backup, restore, scrub, cancel; implies read), admin (everything, also cleanup and enforce)', 'read')
    .action(async (name: string, opts: { permissions: string }, c: Command) => {
      const g = cli.globals(c);
      const { newToken } = await import('@blockvault/platform');
      const made = newToken(name, opts.permissions.split(',').map((p) => p.trim()));
      cli.print(g, { name, permissions: opts.permissions.split(','), ...made }, () => `token: ${made.token}\nadd to the tokens file: ${made.line}`);
    });

  program
    .command('jobs')
    .description('recent jobs of the deployment, newest first (with --server)')
    .option('--limit <n>', 'how many', parseCount, 20)
    .action(async (opts: { limit: number }, c: Command) => {
      const g = cli.globals(c);
      if (!g.server) throw new InvalidArgumentError('jobs lists the jobs of a deployment: give --server HOST:PORT');
      const jobs = (await withRemote(cli, g, (r) => r.listJobs(opts.limit))).map(jobJson);
      cli.print(g, jobs, () => jobs.map((j) => `${j.id}  ${j.type.padEnd(7)} ${j.state.padEnd(9)} ${j.submitted}${j.versionUid ? `  version ${j.versionUid}` : ''}${j.error ? `  ${j.error}` : ''}`).join('\n'));
    });

  program
    .command('cancel')
    .description('cancel a queued or running job (with --server); a backup stops between blocks and its version can be continued')
    .argument('<job-id>', 'the job, as `jobs` lists it')
    .action(async (id: string, _opts: unknown, c: Command) => {
      const g = cli.globals(c);
      if (!g.server) throw new InvalidArgumentError('cancel stops a job of a deployment: give --server HOST:PORT (Ctrl-C stops an embedded command)');
      const job = jobJson(await withRemote(cli, g, (r) => r.cancel(id)));
      cli.print(g, job, () => (job.state === 'cancelled' ? `job ${id} cancelled` : `job ${id} asked to stop; it ends as cancelled once its worker stops between blocks`));
    });

  program
    .command('recover')
    .description('rebuild the metadata database from the version copies in the blob store')
    .action(async (_opts: unknown, c: Command) => {
      const g = cli.globals(c);
      const embedded = await openForRecovery(configOf(g));
      try {
        const r = await embedded.repository.recover();
        cli.print(g, r, () => `recovered ${r.imported.length} versions; ${r.skipped.length} were already known`);
      } finally {
        await embedded.close();
      }
    });
}

const STATE_NAMES: Record<number, string> = {
  [JobState.JOB_STATE_QUEUED]: 'queued',
  [JobState.JOB_STATE_RUNNING]: 'running',
  [JobState.JOB_STATE_SUCCEEDED]: 'succeeded',
  [JobState.JOB_STATE_FAILED]: 'failed',
  [JobState.JOB_STATE_CANCELLED]: 'cancelled',
};

/** A job as `jobs` and `cancel` print it with --json. */
function jobJson(j: Job) {
  return {
    id: j.id,
    type: j.type,
    state: STATE_NAMES[j.state] ?? 'unknown',
    submitted: j.submitted,
    started: j.started || null,
    finished: j.finished || null,
    attempts: j.attempts,
    worker: j.worker || null,
    versionUid: j.versionUid || null,
    progress: j.progress ? { blocksDone: j.progress.blocksDone, blocksTotal: j.progress.blocksTotal, bytesDone: j.progress.bytesDone } : null,
    error: j.error || null,
    errorCode: j.errorCode || null,
    cancelRequested: j.cancelRequested ?? false,
  };
}
