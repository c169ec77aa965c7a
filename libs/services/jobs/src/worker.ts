/**
 * A worker: pulls jobs from the work queue one at a time, signals progress to JetStream while it
 * works (so a live job is not redelivered), records state in the jobs KV, and acks when done. A
 * worker that dies leaves its job unacked: after ACK_WAIT_MS it is redelivered to another worker,
 * which continues the same version. After MAX_ATTEMPTS deliveries the job is marked failed.
 */
import { context, SpanKind, trace, type Span } from '@opentelemetry/api';
import { countBackup, contextFromCarrier, createLogger, errorsTotal, jobDuration, jobsTotal, type Logger } from '@blockvault/telemetry';
import {
  ATTR,
  CancelledError,
  NotFoundError,
  isRetryable,
  retrying,
  ErrorCode,
  failSpan,
  isBlockvaultError,
  SPAN,
  tracer,
  VersionLockedError,
  type BackupStats,
  type BlockvaultEvent,
  type Clock,
  type EventBus,
  type Repository,
} from '@blockvault/core';
import { JobState, type Job } from '@blockvault/proto';
import { isTerminal, MAX_ATTEMPTS, type JobConsumer, type JobDelivery, type JobQueue } from './queue.ts';
import { typedResult } from './job-result.ts';
import { jobLockPrefix, runJob, type RunHooks } from './run-job.ts';

export interface WorkerOptions {
  /** Where jobs come from: JetStream, or the in-process queue. */
  readonly queue: JobQueue;
  readonly repository: Repository;
  readonly events: EventBus;
  readonly clock: Clock;
  /** host:pid, shown in jobs. */
  readonly owner: string;
  /**
   * How long a dead worker's version lock outlives it (the locks' lease length). A redelivered
   * job that finds its version locked waits this long before its next attempt. @default 60000
   */
  readonly lockTtlMs?: number;
  /**
   * How long a job waits out services or stores that are unavailable, retrying with backoff,
   * before the attempt counts as failed. @default 120000 (BLOCKVAULT_JOB_OUTAGE_RETRY_MS)
   */
  readonly outageRetryMs?: number;
  /** @default a pino logger on stderr */
  readonly logger?: Logger;
}

/** Long enough for a pod to restart. */
export const DEFAULT_OUTAGE_RETRY_MS = 120_000;

export class Worker {
  readonly #o: WorkerOptions;
  readonly #log: Logger;
  #consumer: JobConsumer | undefined;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#log = (options.logger ?? createLogger('blockvault-worker')).child({ module: 'worker' });
  }

  async start(): Promise<void> {
    this.#consumer = await this.#o.queue.consume((d) => this.#handle(d));
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
  }

  /**
   * One delivery. Whatever escapes (the job queue itself out of reach while the outcome is
   * recorded) is logged and the delivery left unacknowledged, so it comes back after the ack wait;
   * the worker goes on taking jobs.
   */
  async #handle(m: JobDelivery): Promise<void> {
    try {
      await this.#handleOne(m);
    } catch (err) {
      this.#log.error(
        { jobId: m.id, error: (err as Error).message },
        'could not record the outcome of the job; its delivery comes back after the ack wait',
      );
    }
  }

  async #handleOne(m: JobDelivery): Promise<void> {
    const { queue, clock, events } = this.#o;
    const id = m.id;
    let job: Job;
    try {
      job = await queue.get(id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        // The queue's state is out of reach: let the delivery come back rather than drop it.
        this.#log.warn({ jobId: id, error: (err as Error).message }, 'cannot read the job; it will be redelivered');
        m.nak(1000);
        return;
      }
      m.term('unknown job');
      return;
    }
    if (isTerminal(job)) {
      m.ack();
      return;
    }
    const attempt = m.attempt;
    if (attempt > MAX_ATTEMPTS) {
      const failed = await queue.update(id, (j) => ({
        ...j,
        state: JobState.JOB_STATE_FAILED,
        finished: clock.now().toISOString(),
        error: `gave up after ${MAX_ATTEMPTS} attempts: the workers running it stopped`,
        errorCode: 'UNAVAILABLE',
      }));
      events.publish(jobEvent('job.failed', failed));
      m.term('attempts exhausted');
      return;
    }
    // One span per job attempt, continuing the submitter's trace from the message headers.
    const parent = contextFromCarrier(m.trace);
    const span = tracer.startSpan(
      SPAN.job,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': m.subject,
          [ATTR.jobId]: id,
          [ATTR.jobType]: job.type,
          [ATTR.jobAttempt]: attempt,
        },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), () => this.#run(m, job, attempt, span));
    } finally {
      span.end();
    }
  }

  async #run(m: JobDelivery, job: Job, attempt: number, span: Span): Promise<void> {
    const { queue, clock, owner } = this.#o;
    const id = job.id;
    const log = this.#log;
    const started = performance.now();
    const outcome = (name: string): void => {
      jobsTotal.inc({ type: job.type, outcome: name });
      jobDuration.observe({ type: job.type, outcome: name }, (performance.now() - started) / 1000);
    };
    log.info({ jobId: id, type: job.type, attempt }, 'job started');
    job = await queue.update(id, (j) => ({
      ...j,
      state: JobState.JOB_STATE_RUNNING,
      attempts: attempt,
      worker: owner,
      started: j.started || clock.now().toISOString(),
    }));
    const heartbeat = setInterval(() => m.working(), queue.heartbeatMs);
    const controller = new AbortController();
    const stopWatching = await queue.watchCancel(id, () => controller.abort(new CancelledError(`job ${id} was cancelled`)));
    let lastProgress = 0;
    // A restore whose earlier delivery (a worker that died) recorded progress wrote the target itself.
    let restoreWroteTarget = job.type === 'restore' && (job.progress?.blocksDone ?? 0) > 0;
    const hooks: RunHooks = {
      attempt,
      restoreWroteTarget: () => restoreWroteTarget,
      onVersion: async (uid) => {
        await queue.update(id, (j) => ({ ...j, versionUid: uid }));
      },
      signal: controller.signal,
      onProgress: (p) => {
        if (p.operation === 'restore' && p.blocksDone > 0) restoreWroteTarget = true;
        const now = clock.now().getTime();
        if (now - lastProgress < 1000 && p.blocksDone < p.blocksTotal) return;
        lastProgress = now;
        void queue
          .update(id, (j) => ({
            ...j,
            progress: {
              blocksDone: p.blocksDone,
              blocksTotal: p.blocksTotal,
              bytesDone: p.bytesDone,
              bytesPerSecond: p.bytesPerSecond,
              etaSeconds: p.etaSeconds ?? -1,
            },
          }))
          .catch((err: unknown) =>
            log.debug({ jobId: id, error: (err as Error).message }, 'progress not recorded; the next report will be'),
          );
      },
    };
    try {
      // A service or store that is unavailable (restarting, unreachable) is waited out here, with
      // backoff, while the job keeps its delivery: each retry continues the same version from its
      // committed segments. Only an outage longer than the budget, or a failure that waiting cannot
      // cure, spends an attempt.
      let retries = 0;
      const result = await retrying(
        `job ${id}`,
        {
          maxElapsedMs: this.#o.outageRetryMs ?? DEFAULT_OUTAGE_RETRY_MS,
          initialDelayMs: 500,
          maxDelayMs: 10_000,
          // Also worth waiting for: the version lock of this job's own earlier attempt, which a
          // stopped attempt gives up within half a lease (LockOptions.takeOverFrom).
          retryOn: (err) => isRetryable(err) || (err instanceof VersionLockedError && err.holder.startsWith(jobLockPrefix(id))),
          onRetry: (_what, n, err, delayMs) => {
            retries = n;
            log.warn(
              { jobId: id, type: job.type, retry: n, delayMs: Math.round(delayMs), error: err.message },
              'a service is unavailable; the job waits and continues',
            );
          },
        },
        async () => runJob(this.#o.repository, retries === 0 ? job : await queue.get(id), hooks),
      );
      await this.#finish(id, JobState.JOB_STATE_SUCCEEDED, result);
      m.ack();
      const stats = (result as { stats?: BackupStats } | undefined)?.stats;
      if (job.type === 'backup' && stats) countBackup(stats);
      outcome('succeeded');
      log.info({ jobId: id, type: job.type, versionUid: (result as { version?: { uid?: string } })?.version?.uid, stats }, 'job succeeded');
    } catch (err) {
      const code = isBlockvaultError(err) ? err.code : ErrorCode.Internal;
      failSpan(span, err);
      if (code === ErrorCode.Cancelled) {
        await this.#finish(id, JobState.JOB_STATE_CANCELLED, undefined, err as Error, code);
        m.ack();
        outcome('cancelled');
        log.info({ jobId: id, type: job.type }, 'job cancelled');
        return;
      }
      // An outage that outlasted the wait, or the lock of an earlier attempt that is somehow still
      // renewing it: the next delivery tries again, a lease length later for the lock.
      const lockedByOwnAttempt = err instanceof VersionLockedError && err.holder.startsWith(jobLockPrefix(id));
      if ((code === ErrorCode.Unavailable || lockedByOwnAttempt) && attempt < MAX_ATTEMPTS) {
        await queue.update(id, (j) => ({ ...j, state: JobState.JOB_STATE_QUEUED, error: (err as Error).message, errorCode: code }));
        m.nak(lockedByOwnAttempt ? (this.#o.lockTtlMs ?? 60_000) : 1000);
        outcome('retried');
        log.warn({ jobId: id, type: job.type, attempt, code, error: (err as Error).message }, 'job attempt failed; it will be retried');
        return;
      }
      await this.#finish(id, JobState.JOB_STATE_FAILED, undefined, err as Error, code);
      m.ack();
      outcome('failed');
      errorsTotal.inc({ code });
      log.error({ jobId: id, type: job.type, code, error: (err as Error).message }, 'job failed');
    } finally {
      clearInterval(heartbeat);
      stopWatching();
    }
  }

  async #finish(id: string, state: JobState, result: unknown, err?: Error, code?: string): Promise<void> {
    const job = await this.#o.queue.update(id, (j) => ({
      ...j,
      state,
      finished: this.#o.clock.now().toISOString(),
      resultJson: result === undefined ? '' : JSON.stringify(result),
      ...(result === undefined ? {} : typedResult(j.type, result)),
      error: err?.message ?? '',
      errorCode: code ?? '',
    }));
    const kind =
      state === JobState.JOB_STATE_SUCCEEDED ? 'job.completed' : state === JobState.JOB_STATE_CANCELLED ? 'job.cancelled' : 'job.failed';
    this.#o.events.publish(jobEvent(kind, job));
  }
}

/**
 * A job event: the job's id and type, the version it wrote or read (so subscribers join it with
 * the version's events), and for a failure or cancellation the error and its code.
 */
export function jobEvent(kind: string, job: Job): BlockvaultEvent {
  const req = job.request;
  const versionUid = job.versionUid || job.backupResult?.version?.uid || req?.restore?.uid || req?.scrub?.uid || '';
  return {
    kind,
    jobId: job.id,
    type: job.type,
    ...(versionUid ? { versionUid } : {}),
    ...(kind === 'job.completed' ? {} : { error: job.error, code: job.errorCode }),
  };
}
