/**
 * The job queue in process, for `blockvault serve` with no NATS: the job API, the scheduler loop
 * and the workers share it in one process. Jobs live as long as the process (a restart forgets
 * them; an interrupted backup is continued with `backup --continue`). Semantics match the
 * JetStream adapter: one delivery at a time per consumer, redelivery after `nak`, a request id
 * submitted twice is one job, and job records are copied in and out as KV entries are.
 */
import { EventEmitter, on } from 'node:events';
import { ConflictError, NotFoundError } from '@blockvault/core';
import type { Job, SubmitJobRequest } from '@blockvault/proto';
import {
  ACK_WAIT_MS,
  isTerminal,
  newJob,
  newestMatching,
  type JobConsumer,
  type JobDelivery,
  type JobFilter,
  type JobQueue,
} from './queue.ts';

interface Queued {
  readonly id: string;
  readonly subject: string;
  readonly trace: { readonly traceparent?: string; readonly tracestate?: string };
  readonly attempt: number;
}

const copy = (job: Job): Job => structuredClone(job);
/** Not a string: a job id could be any string. */
const READY = Symbol('ready');

export class MemoryJobQueue implements JobQueue {
  readonly heartbeatMs = ACK_WAIT_MS / 3;
  readonly #jobs = new Map<string, Job>();
  readonly #ready: Queued[] = [];
  readonly #changes = new EventEmitter();
  /** Jobs handed to a consumer and not yet acked. */
  #inFlight = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #carrier: () => Record<string, string>;

  /** `traceCarrier` gives the submitter's W3C trace context (the telemetry's). @default none */
  constructor(traceCarrier: () => Record<string, string> = () => ({})) {
    this.#carrier = traceCarrier;
    this.#changes.setMaxListeners(0);
  }

  async pending(): Promise<number> {
    return this.#ready.length + this.#inFlight;
  }

  async submit(req: SubmitJobRequest, now: Date): Promise<Job> {
    const job = newJob(req, now);
    const existing = this.#jobs.get(job.id);
    if (existing) return copy(existing); // submitted before: the same job, not a second run
    this.#jobs.set(job.id, copy(job));
    this.#enqueue({ id: job.id, subject: `blockvault.jobs.${job.type}`, trace: this.#carrier(), attempt: 1 });
    return job;
  }

  async get(id: string): Promise<Job> {
    const job = this.#jobs.get(id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    return copy(job);
  }

  async update(id: string, change: (job: Job) => Job): Promise<Job> {
    const job = this.#jobs.get(id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    const next = change(copy(job));
    if (next.id !== id) throw new ConflictError(`job ${id}: an update may not change its id`);
    this.#jobs.set(id, copy(next));
    this.#changes.emit(id, copy(next));
    return next;
  }

  async list(filter: JobFilter): Promise<Job[]> {
    return newestMatching([...this.#jobs.values()], filter).map(copy);
  }

  async *watch(id: string): AsyncIterable<Job> {
    const controller = new AbortController();
    // Listen before reading, so that no change between the two is missed.
    const changes = on(this.#changes, id, { signal: controller.signal });
    try {
      const first = await this.get(id);
      yield first;
      if (isTerminal(first)) return;
      for await (const [job] of changes) {
        yield job as Job;
        if (isTerminal(job as Job)) return;
      }
    } finally {
      controller.abort();
    }
  }

  async watchCancel(id: string, onCancel: () => void): Promise<() => void> {
    const listener = (job: Job): void => {
      if (!job.cancelRequested) return;
      this.#changes.off(id, listener);
      onCancel();
    };
    if ((await this.get(id)).cancelRequested) {
      onCancel();
      return () => undefined;
    }
    this.#changes.on(id, listener);
    return () => this.#changes.off(id, listener);
  }

  async consume(handle: (delivery: JobDelivery) => Promise<void>): Promise<JobConsumer> {
    let stopped = false;
    const wake = new EventEmitter();
    const onReady = (): boolean => wake.emit('ready');
    this.#changes.on(READY, onReady);
    const next = async (): Promise<Queued | undefined> => {
      while (!stopped) {
        const queued = this.#ready.shift();
        if (queued) return queued;
        await new Promise<void>((resolve) => wake.once('ready', resolve).once('stop', resolve));
      }
      return undefined;
    };
    const done = (async () => {
      for (let queued = await next(); queued; queued = await next()) {
        this.#inFlight++;
        let settled = false;
        const settle = (): void => {
          if (settled) return;
          settled = true;
          this.#inFlight--;
        };
        try {
          await handle({
            ...queued,
            working: () => undefined, // one process: a live worker never loses its job
            ack: settle,
            term: settle,
            nak: (delayMs) => {
              if (settled) return;
              settle();
              this.#enqueue({ ...queued, attempt: queued.attempt + 1 }, delayMs);
            },
          });
        } finally {
          settle();
        }
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        this.#changes.off(READY, onReady);
        wake.emit('stop');
        await done;
      },
    };
  }

  /** Drops pending redelivery timers (the process is stopping). */
  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #enqueue(queued: Queued, delayMs = 0): void {
    if (delayMs <= 0) {
      this.#ready.push(queued);
      this.#changes.emit(READY);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#enqueue(queued);
    }, delayMs);
    this.#timers.add(timer);
  }
}
