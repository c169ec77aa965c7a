/**
 * The job queue on NATS: job state in the KV bucket `blockvault_jobs` (one JSON entry per job,
 * watched by WatchJob), and the work in the JetStream work-queue stream `BLOCKVAULT_JOBS`,
 * published with the job id as message id so that a resubmission within the duplicate window is
 * dropped. NATS errors are translated here: a check-and-set conflict is a conflict, a missing
 * stream or consumer is created, anything else is UnavailableError (never a domain answer).
 */
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { currentTraceCarrier } from '@blockvault/telemetry';
import {
  AckPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ConflictError, NotFoundError, UnavailableError } from '@blockvault/core';
import type { Job, SubmitJobRequest } from '@blockvault/proto';
import {
  ACK_WAIT_MS,
  isTerminal,
  MAX_ATTEMPTS,
  newJob,
  newestMatching,
  type JobConsumer,
  type JobFilter,
  type JobDelivery,
  type JobQueue,
} from './queue.ts';

export const JOBS_STREAM = 'BLOCKVAULT_JOBS';
export const JOBS_SUBJECT = 'blockvault.jobs';
export const JOBS_BUCKET = 'blockvault_jobs';
export const WORKERS_CONSUMER = 'workers';

export interface JetStreamQueueOptions {
  /** The consumer's ack wait, set when it is first created. @default 30000 (BLOCKVAULT_JOB_ACK_WAIT_MS) */
  readonly ackWaitMs?: number;
}

/** A check-and-set that lost: the key exists, or changed since it was read. */
function isCasConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function isMissing(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
  );
}

function unavailable(what: string, err: unknown): UnavailableError {
  return new UnavailableError(`NATS: cannot ${what}: ${(err as Error).message}`, { cause: err });
}

/** Runs `fn`, translating whatever NATS throws into UnavailableError. */
async function nats<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw unavailable(what, err);
  }
}

async function ensure(what: string, exists: () => Promise<unknown>, create: () => Promise<unknown>): Promise<void> {
  try {
    await exists();
  } catch (err) {
    if (!isMissing(err)) throw unavailable(`look up ${what}`, err);
    await nats(`create ${what}`, create);
  }
}

export class JetStreamJobQueue implements JobQueue {
  readonly #js: JetStreamClient;
  readonly #kv: KV;
  readonly heartbeatMs: number;

  private constructor(js: JetStreamClient, kv: KV, ackWaitMs: number) {
    this.#js = js;
    this.#kv = kv;
    this.heartbeatMs = ackWaitMs / 3;
  }

  /** Creates the stream, the workers' consumer and the KV bucket if missing. */
  static async open(nc: NatsConnection, options: JetStreamQueueOptions = {}): Promise<JetStreamJobQueue> {
    const ackWaitMs = options.ackWaitMs ?? ACK_WAIT_MS;
    const jsm: JetStreamManager = await nats('reach JetStream', () => jetstreamManager(nc));
    await ensure(
      `stream ${JOBS_STREAM}`,
      () => jsm.streams.info(JOBS_STREAM),
      () =>
        jsm.streams.add({
          name: JOBS_STREAM,
          subjects: [`${JOBS_SUBJECT}.>`],
          retention: RetentionPolicy.Workqueue,
          duplicate_window: 24 * 3600 * 1e9,
        }),
    );
    await ensure(
      `consumer ${WORKERS_CONSUMER}`,
      () => jsm.consumers.info(JOBS_STREAM, WORKERS_CONSUMER),
      () =>
        jsm.consumers.add(JOBS_STREAM, {
          durable_name: WORKERS_CONSUMER,
          ack_policy: AckPolicy.Explicit,
          ack_wait: ackWaitMs * 1e6,
          // One more than MAX_ATTEMPTS: the last delivery only records that the job gave up.
          max_deliver: MAX_ATTEMPTS + 1,
        }),
    );
    const kv = await nats(`open the KV bucket ${JOBS_BUCKET}`, () => new Kvm(nc).create(JOBS_BUCKET, { history: 1 }));
    return new JetStreamJobQueue(jetstream(nc), kv, ackWaitMs);
  }

  async pending(): Promise<number> {
    const info = await nats('read the queue depth', () => this.#js.consumers.get(JOBS_STREAM, WORKERS_CONSUMER).then((c) => c.info(true)));
    return info.num_pending + info.num_ack_pending;
  }

  async submit(req: SubmitJobRequest, now: Date): Promise<Job> {
    const job = newJob(req, now);
    try {
      await this.#kv.create(job.id, JSON.stringify(job));
    } catch (err) {
      if (isCasConflict(err)) return this.get(job.id); // submitted before: the same job, not a second run
      throw unavailable(`record job ${job.id}`, err);
    }
    // The submitter's trace context rides along, so the job's spans join the submit's trace.
    const hdrs = headers();
    for (const [k, v] of Object.entries(currentTraceCarrier())) hdrs.set(k, v);
    await nats(`queue job ${job.id}`, () =>
      this.#js.publish(`${JOBS_SUBJECT}.${job.type}`, JSON.stringify({ id: job.id }), { msgID: job.id, headers: hdrs }),
    );
    return job;
  }

  async get(id: string): Promise<Job> {
    const entry = await nats(`read job ${id}`, () => this.#kv.get(id));
    if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`job ${id} not found`);
    return entry.json<Job>();
  }

  async update(id: string, change: (job: Job) => Job): Promise<Job> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const entry = await nats(`read job ${id}`, () => this.#kv.get(id));
      if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`job ${id} not found`);
      const next = change(entry.json<Job>());
      try {
        await this.#kv.update(id, JSON.stringify(next), entry.revision);
        return next;
      } catch (err) {
        if (!isCasConflict(err)) throw unavailable(`update job ${id}`, err);
        // Another writer got there first: read again and reapply.
      }
    }
    throw new ConflictError(`job ${id}: too many concurrent updates; try again`);
  }

  async list(filter: JobFilter): Promise<Job[]> {
    return nats('list jobs', async () => {
      const jobs: Job[] = [];
      for await (const key of await this.#kv.keys()) {
        const entry = await this.#kv.get(key);
        if (entry && entry.operation === 'PUT') jobs.push(entry.json<Job>());
      }
      return newestMatching(jobs, filter);
    });
  }

  async watchCancel(id: string, onCancel: () => void): Promise<() => void> {
    const watcher = await nats(`watch job ${id}`, () => this.#kv.watch({ key: id }));
    void (async () => {
      for await (const entry of watcher) {
        if (entry.operation === 'PUT' && entry.json<Job>().cancelRequested) {
          onCancel();
          return;
        }
      }
    })();
    return () => watcher.stop();
  }

  async *watch(id: string): AsyncIterable<Job> {
    const first = await this.get(id);
    yield first;
    if (isTerminal(first)) return;
    const watcher = await nats(`watch job ${id}`, () => this.#kv.watch({ key: id }));
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

  async consume(handle: (delivery: JobDelivery) => Promise<void>): Promise<JobConsumer> {
    const consumer = await nats('reach the workers consumer', () => this.#js.consumers.get(JOBS_STREAM, WORKERS_CONSUMER));
    const messages = await nats('consume jobs', () => consumer.consume({ max_messages: 1 }));
    const done = (async () => {
      for await (const m of messages) {
        await handle({
          id: m.json<{ id: string }>().id,
          attempt: m.info.deliveryCount,
          subject: m.subject,
          trace: { traceparent: m.headers?.get('traceparent') || undefined, tracestate: m.headers?.get('tracestate') || undefined },
          working: () => m.working(),
          ack: () => m.ack(),
          nak: (delayMs) => m.nak(delayMs),
          term: (reason) => m.term(reason),
        });
      }
    })();
    return {
      stop: async () => {
        messages.stop();
        await done;
      },
    };
  }
}
