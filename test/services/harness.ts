/** Clients and helpers for the services' end-to-end tests. */
import * as grpc from '@grpc/grpc-js';
import { JobServiceClient, type Job, type SubmitJobRequest } from '@blockvault/proto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { defaultConfig, type BlockvaultConfig, type IoRoots } from '@blockvault/platform';
import { decodeEvent, type ReceivedEvent } from '@blockvault/adapter-nats';
import { eventContract, type PublishedEvent } from '@blockvault/testing';

export function client(port: number): JobServiceClient {
  return new JobServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function call<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((done, fail) => fn(req, (err, res) => (err ? fail(err) : done(res))));
}

export function submit(c: JobServiceClient, req: SubmitJobRequest): Promise<Job> {
  return call(c.submitJob.bind(c), req);
}

/** Watches a job until it ends; returns every state seen. */
export function watch(c: JobServiceClient, id: string): Promise<Job[]> {
  return new Promise((done, fail) => {
    const seen: Job[] = [];
    const stream = c.watchJob({ id });
    stream.on('data', (j: Job) => seen.push(j));
    stream.on('end', () => done(seen));
    stream.on('error', fail);
  });
}

/** A configuration for a test deployment: the defaults, then what the test sets. */
export function testConfig(
  home: string,
  patch: {
    natsUrl?: string;
    tickMs?: number;
    blobService?: string;
    reader?: string;
    ioRoots?: IoRoots;
    natsAuth?: { user: string; pass: string };
  } = {},
): BlockvaultConfig {
  const c = defaultConfig(home);
  return {
    ...c,
    stores: { ...c.stores, blobs: { ...c.stores.blobs, ...(patch.blobService ? { service: patch.blobService } : {}) } },
    io: { ...c.io, ...(patch.reader ? { reader: patch.reader } : {}), ...(patch.ioRoots ? { roots: patch.ioRoots } : {}) },
    services: { ...c.services, listen: '127.0.0.1:0' },
    nats: { ...c.nats, ...(patch.natsUrl ? { url: patch.natsUrl } : {}), ...(patch.natsAuth ? { auth: patch.natsAuth } : {}) },
    scheduler: { tickMs: patch.tickMs ?? c.scheduler.tickMs },
  };
}

const contract = eventContract();

/** Every event on `subject` (all by default) while it runs: as published, and decoded. */
export class EventRecorder {
  readonly published: PublishedEvent[] = [];
  readonly #sub: Subscription;
  readonly #nc: NatsConnection;
  readonly #waiters = new Set<() => void>();

  constructor(nc: NatsConnection, subject = 'blockvault.events.>') {
    this.#nc = nc;
    this.#sub = nc.subscribe(subject, {
      callback: (_err, m) => {
        const headers: Record<string, string> = {};
        for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
        this.published.push({ subject: m.subject, payload: m.string(), headers });
        for (const w of this.#waiters) w();
      },
    });
  }

  /**
   * Resolves once an event matching `match` has arrived. Events are published after the state
   * a client watches (the job's), so a test awaits the event rather than assume it came first.
   */
  until(match: (e: ReceivedEvent) => boolean, ms = 10_000): Promise<void> {
    if (this.events.some(match)) return Promise.resolve();
    return new Promise((done, fail) => {
      const check = (): void => {
        if (!this.events.some(match)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        done();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        fail(new Error(`no matching event within ${ms} ms; seen: ${this.events.map((e) => e.kind).join(', ')}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** The events as the services' own subscribers see them: kind, data fields, id, source, time. */
  get events(): ReceivedEvent[] {
    return this.published.map((p) => decodeEvent(p.payload));
  }

  /** Each way a recorded event breaks proto/asyncapi.yaml. */
  problems(): string[] {
    return this.published.flatMap((p) => contract.problems(p));
  }

  /** Waits until the subscription is active at the server. */
  async ready(): Promise<void> {
    await this.#nc.flush();
  }

  async stop(): Promise<void> {
    await this.#nc.flush();
    this.#sub.unsubscribe();
  }
}
