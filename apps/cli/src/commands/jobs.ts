/** A deployment's jobs: `jobs`, `cancel` (with --server). */
import { Option, type Command } from 'commander';
import { InvalidArgumentError } from '@blockvault/core';
import { JobState, type Job } from '@blockvault/proto';
import { withRemote, type Cli } from '../cli-context.ts';
import { jobsTable } from '../format.ts';
import { examplesText } from './examples.ts';
import { parseCount } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('jobs')
    .description('recent jobs of the deployment, newest first (with --server)')
    .option('--limit <n>', 'how many', parseCount, 20)
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(Object.values(STATE_NAMES)))
    .addOption(new Option('--type <type>', 'only jobs of this type').choices(JOB_TYPES))
    .addHelpText(
      'after',
      examplesText(
        ['blockvault --server scheduler:7070 jobs --state running', 'what the workers are doing now'],
        ['blockvault --server scheduler:7070 jobs --state failed --type backup', 'backups that failed'],
      ),
    )
    .action(async (opts: { limit: number; state?: string; type?: string }, c: Command) => {
      const g = cli.globals(c);
      if (!g.server) throw new InvalidArgumentError('jobs lists the jobs of a deployment: give --server HOST:PORT');
      const state = Object.entries(STATE_NAMES).find(([, n]) => n === opts.state)?.[0];
      const jobs = (
        await withRemote(cli, g, (r) => r.listJobs(opts.limit, state ? (Number(state) as JobState) : undefined, opts.type))
      ).map(jobJson);
      cli.print(g, jobs, () => jobsTable(jobs));
    });

  program
    .command('cancel')
    .description('cancel a queued or running job (with --server); a backup stops between blocks and its version can be continued')
    .argument('<job-id>', 'the job, as `jobs` lists it')
    .action(async (id: string, _opts: unknown, c: Command) => {
      const g = cli.globals(c);
      if (!g.server)
        throw new InvalidArgumentError('cancel stops a job of a deployment: give --server HOST:PORT (Ctrl-C stops an embedded command)');
      const job = jobJson(await withRemote(cli, g, (r) => r.cancel(id)));
      cli.print(g, job, () =>
        job.state === 'cancelled'
          ? `job ${id} cancelled`
          : `job ${id} asked to stop; it ends as cancelled once its worker stops between blocks`,
      );
    });
}

const JOB_TYPES = ['backup', 'restore', 'scrub', 'cleanup', 'enforce'];

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
    progress: j.progress
      ? { blocksDone: j.progress.blocksDone, blocksTotal: j.progress.blocksTotal, bytesDone: j.progress.bytesDone }
      : null,
    error: j.error || null,
    errorCode: j.errorCode || null,
    cancelRequested: j.cancelRequested ?? false,
  };
}
