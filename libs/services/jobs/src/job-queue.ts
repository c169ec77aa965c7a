/**
 * Jobs on NATS: their state in the KV bucket `blockvault_jobs` (one JSON entry per job, watched
 * by WatchJob), and the work in the JetStream work-queue stream `BLOCKVAULT_JOBS`, published
 * with the job id as message id so that a resubmission within the duplicate window is dropped.
 */
import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { currentTraceCarrier } from '@blockvault/telemetry';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { InvalidArgumentError, NotFoundError } from '@blockvault/core';
import { JobState, SubmitJobRequest, type Job } from '@blockvault/proto';

export const JOBS_STREAM = 'BLOCKVAULT_JOBS';
export const JOBS_SUBJECT = 'blockvault.jobs';
export const JOBS_BUCKET = 'blockvault_jobs';
export const WORKERS_CONSUMER = 'workers';
/** Deliveries before a job is given up (a killed worker's job is redelivered meanwhile). */
export const MAX_ATTEMPTS = 3;
/**
 * A worker that neither acks nor signals progress for this long loses its job to another.
 * BLOCKVAULT_JOB_ACK_WAIT_MS overrides it when the queue is first created (tests use seconds).
 */
export const ACK_WAIT_MS = 30_000;

export function ackWaitMs(): number {
  const v = Number(process.env['BLOCKVAULT_JOB_ACK_WAIT_MS']);
  return Number.isFinite(v) && v >= 1000 ? v : ACK_WAIT_MS;
}

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const TERMINAL = new Set<number>([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

export function isTerminal(job: Job): boolean {
  return TERMINAL.has(job.state);
}

export function jobType(req: SubmitJobRequest): string {
  const type = ['backup', 'restore', 'scrub', 'cleanup', 'enforce'].find((t) => req[t as keyof SubmitJobRequest] !== undefined);
  if (!type) throw new InvalidArgumentError('the request names no job: set one of backup, restore, scrub, cleanup, enforce');
  return type;
}

export class JobQueue {
  readonly #js: JetStreamClient;
  readonly #kv: KV;

  private constructor(js: JetStreamClient, kv: KV) {
    this.#js = js;
    this.#kv = kv;
  }

  /** Creates the stream, the workers' consumer and the KV bucket if missing. */
  static async open(nc: NatsConnection): Promise<JobQueue> {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(JOBS_STREAM);
    } catch {
      await jsm.streams.add({ name: JOBS_STREAM, subjects: [`${JOBS_SUBJECT}.>`], retention: RetentionPolicy.Workqueue, duplicate_window: 24 * 3600 * 1e9 });
    }
    try {
      await jsm.consumers.info(JOBS_STREAM, WORKERS_CONSUMER);
    } catch {
      await jsm.consumers.add(JOBS_STREAM, {
        durable_name: WORKERS_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ackWaitMs() * 1e6,
        // One more than MAX_ATTEMPTS: the last delivery only records that the job gave up.
        max_deliver: MAX_ATTEMPTS + 1,
      });
    }
    const kv = await new Kvm(nc).create(JOBS_BUCKET, { history: 1 });
    return new JobQueue(jetstream(nc), kv);
  }

  /** Jobs waiting or in progress in the work queue. */
  async pending(): Promise<number> {
    const info = await this.#js.consumers.get(JOBS_STREAM, WORKERS_CONSUMER).then((c) => c.info(true));
    return info.num_pending + info.num_ack_pending;
  }

  get js(): JetStreamClient {
    return this.#js;
  }

  /** Queues a job, or returns the one already submitted with the same request id. */
  async submit(req: SubmitJobRequest, now: Date): Promise<Job> {
    const type = jobType(req);
    const id = req.requestId || randomUUID();
    if (!REQUEST_ID.test(id)) throw new InvalidArgumentError('request_id must be 1-128 of A-Z a-z 0-9 _ . : -');
    const job: Job = {
      id,
      type,
      state: JobState.JOB_STATE_QUEUED,
      submitted: now.toISOString(),
      started: '',
      finished: '',
      attempts: 0,
      worker: '',
      versionUid: '',
      resultJson: '',
      error: '',
      errorCode: '',
      request: { ...req, requestId: id },
      cancelRequested: false,
    };
    try {
      await this.#kv.create(id, JSON.stringify(job));
    } catch {
      return this.get(id); // submitted before: the same job, not a second run
    }
    // The submitter's trace context rides along, so the job's spans join the submit's trace.
    const hdrs = headers();
    for (const [k, v] of Object.entries(currentTraceCarrier())) hdrs.set(k, v);
    await this.#js.publish(`${JOBS_SUBJECT}.${type}`, JSON.stringify({ id }), { msgID: id, headers: hdrs });
    return job;
  }

  async get(id: string): Promise<Job> {
    const entry = await this.#kv.get(id);
    if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`job ${id} not found`);
    return entry.json<Job>();
  }

  /** Applies `change` with check-and-set, retrying when another writer got there first. */
  async update(id: string, change: (job: Job) => Job): Promise<Job> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const entry = await this.#kv.get(id);
      if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`job ${id} not found`);
      const next = change(entry.json<Job>());
      try {
        await this.#kv.update(id, JSON.stringify(next), entry.revision);
        return next;
      } catch {
        continue;
      }
    }
    throw new Error(`job ${id}: too many concurrent updates`);
  }

  async list(limit: number): Promise<Job[]> {
    const jobs: Job[] = [];
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry && entry.operation === 'PUT') jobs.push(entry.json<Job>());
    }
    return jobs.sort((a, b) => b.submitted.localeCompare(a.submitted)).slice(0, limit);
  }

  /**
   * Calls `onCancel` once CancelJob asks the running job to stop (at once if it already has).
   * Returns the function that stops watching.
   */
  async watchCancel(id: string, onCancel: () => void): Promise<() => void> {
    const watcher = await this.#kv.watch({ key: id });
    void (async () => {
      for await (const entry of watcher) {
        if (entry.operation === 'PUT' && entry.json<Job>().cancelRequested) {
          onCancel();
          return;
        }
      }
    })().catch(() => undefined);
    return () => watcher.stop();
  }

  /** The job now, then each change until it ends. */
  async *watch(id: string): AsyncIterable<Job> {
    const first = await this.get(id);
    yield first;
    if (isTerminal(first)) return;
    const watcher = await this.#kv.watch({ key: id });
    try {
      for await (const entry of watcher) {
        if (entry.operation !== 'PUT') continue;
        const job = entry.json<Job>();
        yield job;
        if (isTerminal(job)) return;
      }
    } finally {
      watcher.stop();
    }
  }
}
