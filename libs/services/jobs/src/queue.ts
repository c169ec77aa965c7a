/**
 * The job-queue port: where jobs wait, who takes them, and their state. Two adapters implement
 * it: JetStream (jetstream-queue.ts: a work-queue stream and a KV bucket, for workers in other
 * processes) and an in-process queue (memory-queue.ts: `blockvault serve` with no NATS). The job
 * API, the scheduler loop and the workers see only this.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '@blockvault/core';
import { JobState, type Job, type SubmitJobRequest } from '@blockvault/proto';

/** Deliveries before a job is given up (a killed worker's job is redelivered meanwhile). */
export const MAX_ATTEMPTS = 3;
/** A worker that neither finishes nor signals progress for this long loses its job to another. */
export const ACK_WAIT_MS = 30_000;
export const JOB_TYPES = ['backup', 'restore', 'scrub', 'cleanup', 'enforce'] as const;

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const TERMINAL = new Set<number>([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** What a job id may be (a request id): refused before it reaches a store, never echoed whole. */
export function checkJobId(id: string): string {
  if (!REQUEST_ID.test(id)) {
    const shown = id.length > 64 ? `${JSON.stringify(id.slice(0, 64))}... (${id.length} characters)` : JSON.stringify(id);
    throw new InvalidArgumentError(`job id ${shown} is not a job id: ids are 1-128 of A-Z a-z 0-9 _ . : -`);
  }
  return id;
}

export function isTerminal(job: Job): boolean {
  return TERMINAL.has(job.state);
}

export function jobType(req: SubmitJobRequest): string {
  const type = JOB_TYPES.find((t) => req[t] !== undefined);
  if (!type) throw new InvalidArgumentError('the request names no job: set one of backup, restore, scrub, cleanup, enforce');
  return type;
}

/** A queued job record for `req` (its request id, or a new one). */
export function newJob(req: SubmitJobRequest, now: Date): Job {
  const type = jobType(req);
  const id = req.requestId || randomUUID();
  if (!REQUEST_ID.test(id)) throw new InvalidArgumentError(`request_id must be 1-128 of A-Z a-z 0-9 _ . : - (got ${id.length} characters)`);
  return {
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
}

/** Which jobs ListJobs answers. */
export interface JobFilter {
  readonly limit: number;
  readonly state?: JobState;
  readonly type?: string;
}

/** The newest `filter.limit` of `jobs` that match the filter. */
export function newestMatching(jobs: readonly Job[], filter: JobFilter): Job[] {
  return jobs
    .filter((j) => (filter.state === undefined || j.state === filter.state) && (filter.type === undefined || j.type === filter.type))
    .sort((a, b) => b.submitted.localeCompare(a.submitted))
    .slice(0, filter.limit);
}

/** One delivery of a job to a worker. */
export interface JobDelivery {
  readonly id: string;
  /** 1 for the first delivery; redeliveries count up. */
  readonly attempt: number;
  /** Where it was queued (the work subject), for traces. */
  readonly subject: string;
  /** The submitter's W3C trace context. */
  readonly trace: { readonly traceparent?: string; readonly tracestate?: string };
  /** Still working: keeps the job from going to another worker. */
  working(): void;
  /** Done with it (whatever the outcome): it is not delivered again. */
  ack(): void;
  /** Deliver it again after `delayMs` (the attempt failed for a transient reason). */
  nak(delayMs: number): void;
  /** Never deliver it again. */
  term(reason: string): void;
}

export interface JobConsumer {
  /** Takes no more jobs and waits for the one in hand. */
  stop(): Promise<void>;
}

export interface JobQueue {
  /** How often a worker calls `working()` while it runs a job. */
  readonly heartbeatMs: number;
  /** Queues a job, or returns the one already submitted with the same request id. */
  submit(req: SubmitJobRequest, now: Date): Promise<Job>;
  /** @throws NotFoundError */
  get(id: string): Promise<Job>;
  /** Applies `change` atomically (check-and-set). @throws NotFoundError */
  update(id: string, change: (job: Job) => Job): Promise<Job>;
  /** The newest `limit` jobs (of those in `state` and of `type`, when given). */
  list(filter: JobFilter): Promise<Job[]>;
  /** The job now, then each change until it ends. */
  watch(id: string): AsyncIterable<Job>;
  /** Calls `onCancel` once CancelJob asks the job to stop; returns the function that stops watching. */
  watchCancel(id: string, onCancel: () => void): Promise<() => void>;
  /** Jobs waiting or in progress. */
  pending(): Promise<number>;
  /** Hands jobs to `handle`, one at a time, until stopped. */
  consume(handle: (delivery: JobDelivery) => Promise<void>): Promise<JobConsumer>;
}
