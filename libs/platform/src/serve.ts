/**
 * One binary, many targets (Loki/Tempo style): a registry of modules and their dependencies.
 * `serve({ target: 'all' })` runs the scheduler (the gRPC job API) and a worker in one process;
 * `scheduler` and `worker` run them alone, sharing NATS and the repository's stores.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidArgumentError, isBlockvaultError, systemClock, type Clock } from '@blockvault/core';
import { NatsEventBus, NatsLocks, openNats } from '@blockvault/adapter-nats';
import { serveBlobStore, type BlobStoreServer } from '@blockvault/service-blob-store';
import { serveReader, type ReaderServer } from '@blockvault/service-reader';
import { serveMetadata, type MetadataServer } from '@blockvault/service-metadata';
import { JobQueue, SchedulerLoop, serveJobApi, Worker, type GrpcServer } from '@blockvault/service-jobs';
import { storesFromEnv, type StoresConfig } from './config.ts';
import { createLogger, serveMetrics, setQueueDepthSource, startTelemetry, type Logger, type MetricsServer } from '@blockvault/telemetry';
import { DEFAULT_BLOCK_TRACE_RATIO } from '@blockvault/core';
import type { ServerSecurity } from '@blockvault/grpc-edge';
import { internalServerSecurity, jobApiSecurity } from './security.ts';
import { DEFAULT_LOCK_TTL_MS, localIo, lockTtlMs, openMetadataStore, openRepository, type OpenRepository } from './embedded.ts';

export { startTelemetry } from '@blockvault/telemetry';

export const TARGETS = ['all', 'scheduler', 'worker', 'blob-store', 'reader', 'metadata'] as const;
export type Target = (typeof TARGETS)[number];

export interface ServeOptions {
  readonly target: Target;
  /** nats://host:port */
  readonly natsUrl: string;
  /** The gRPC address: the job API (scheduler, all) 127.0.0.1:7070, blob-store :7071, reader :7072, metadata :7073. */
  readonly listen?: string;
  /** The repository: home directory and stores, as for the CLI. */
  readonly home: string;
  readonly stores?: StoresConfig;
  readonly clock?: Clock;
  /** How often the scheduler looks at the schedules. @default 30000 (BLOCKVAULT_SCHEDULER_TICK_MS) */
  readonly schedulerTickMs?: number;
  /** Repository options for tests (small blocks). */
  readonly blockSize?: number;
  readonly blocksPerSegment?: number;
  /** Structured logs. @default pino JSON on stderr */
  readonly logger?: Logger;
  /** The share of blocks traced with their own spans. @default BLOCKVAULT_TRACE_BLOCKS, else 0.01 */
  readonly traceBlockRatio?: number;
  /** Serve Prometheus metrics here (host:port). @default BLOCKVAULT_METRICS_LISTEN, else none */
  readonly metricsListen?: string;
}

export interface Running {
  /** The job API's port, when the scheduler runs here. */
  readonly port: number | undefined;
  /** The /metrics port, when metrics are served. */
  readonly metricsPort: number | undefined;
  readonly modules: readonly string[];
  stop(): Promise<void>;
}

interface Context {
  nc?: NatsConnection;
  repo?: OpenRepository;
  queue?: JobQueue;
  grpc?: GrpcServer;
  worker?: Worker;
  loop?: SchedulerLoop;
  blobServer?: BlobStoreServer;
  readerServer?: ReaderServer;
  metadataServer?: MetadataServer;
  metrics?: MetricsServer;
  log?: Logger;
}

interface Module {
  readonly deps: readonly string[];
  start(ctx: Context, o: ServeOptions): Promise<void>;
  stop(ctx: Context): Promise<void>;
}

const MODULES: Record<string, Module> = {
  metrics: {
    deps: [],
    start: async (ctx, o) => {
      const listen = o.metricsListen ?? process.env['BLOCKVAULT_METRICS_LISTEN'];
      if (listen) ctx.metrics = await serveMetrics(listen);
    },
    stop: async (ctx) => {
      setQueueDepthSource(undefined);
      await ctx.metrics?.stop();
    },
  },
  nats: {
    deps: [],
    start: async (ctx, o) => {
      ctx.nc = await openNats({ url: o.natsUrl, name: `blockvault-${o.target}`, ...(o.stores?.natsAuth ? { auth: o.stores.natsAuth } : {}) });
    },
    stop: async (ctx) => {
      await ctx.nc?.drain();
    },
  },
  repository: {
    deps: ['nats'],
    start: async (ctx, o) => {
      const clock = o.clock ?? systemClock;
      const nc = ctx.nc as NatsConnection;
      ctx.repo = await openRepository({
        home: o.home,
        stores: o.stores,
        clock,
        events: await NatsEventBus.open(nc),
        // Through the metadata service, leases live in NATS KV: shared by every process.
        ...(o.stores?.metadataService ? { locks: await NatsLocks.open(nc, clock, { ttlMs: lockTtlMs() }) } : {}),
        ...(o.blockSize ? { blockSize: o.blockSize } : {}),
        ...(o.blocksPerSegment ? { blocksPerSegment: o.blocksPerSegment } : {}),
        traceBlockRatio: o.traceBlockRatio ?? traceBlockRatioFromEnv(),
      });
    },
    stop: async (ctx) => {
      await ctx.repo?.events.flush?.();
      await ctx.repo?.close();
    },
  },
  queue: {
    deps: ['nats'],
    start: async (ctx) => {
      ctx.queue = await JobQueue.open(ctx.nc as NatsConnection);
      const queue = ctx.queue;
      setQueueDepthSource(() => queue.pending());
    },
    stop: async () => undefined,
  },
  scheduler: {
    deps: ['repository', 'queue'],
    start: async (ctx, o) => {
      const clock = o.clock ?? systemClock;
      ctx.grpc = await serveJobApi({ queue: ctx.queue as JobQueue, repository: ctx.repo!.repository, clock }, o.listen ?? '127.0.0.1:7070', withRefusalLog(jobApiSecurity(o.stores?.security), ctx.log!));
      ctx.loop = new SchedulerLoop({
        queue: ctx.queue as JobQueue,
        repository: ctx.repo!.repository,
        events: ctx.repo!.events,
        locks: await NatsLocks.open(ctx.nc as NatsConnection, clock),
        clock,
        owner: `${hostname()}:${process.pid}`,
        logger: ctx.log!,
        ...(o.schedulerTickMs ? { tickMs: o.schedulerTickMs } : {}),
      });
      ctx.loop.start();
    },
    stop: async (ctx) => {
      await ctx.loop?.stop();
      await ctx.grpc?.stop();
    },
  },
  worker: {
    deps: ['repository', 'queue'],
    start: async (ctx, o) => {
      ctx.worker = new Worker({
        queue: ctx.queue as JobQueue,
        repository: ctx.repo!.repository,
        events: ctx.repo!.events,
        clock: o.clock ?? systemClock,
        owner: `${hostname()}:${process.pid}`,
        logger: ctx.log!,
        lockTtlMs: o.stores?.metadataService ? lockTtlMs() : DEFAULT_LOCK_TTL_MS,
      });
      await ctx.worker.start();
    },
    stop: async (ctx) => {
      await ctx.worker?.stop();
    },
  },
  'blob-store': {
    deps: [],
    start: async (ctx, o) => {
      // The store behind the service: S3 when configured, else files under the home directory.
      const stores = { ...(o.stores?.s3 ? { s3: o.stores.s3 } : {}) };
      const opened = await openRepository({ home: o.home, stores, ...(o.blockSize ? { blockSize: o.blockSize } : {}), ...(o.blocksPerSegment ? { blocksPerSegment: o.blocksPerSegment } : {}) });
      ctx.blobServer = await serveBlobStore(opened.blobs, o.listen ?? '127.0.0.1:7071', withRefusalLog(internalServerSecurity(o.stores?.security), ctx.log!));
      const stop = ctx.blobServer.stop;
      ctx.blobServer = { port: ctx.blobServer.port, stop: async () => (await stop(), await opened.close()) };
    },
    stop: async (ctx) => {
      await ctx.blobServer?.stop();
    },
  },
  reader: {
    deps: [],
    start: async (ctx, o) => {
      ctx.readerServer = await serveReader(localIo(o.stores?.ioRoots), o.listen ?? '127.0.0.1:7072', withRefusalLog(internalServerSecurity(o.stores?.security), ctx.log!));
    },
    stop: async (ctx) => {
      await ctx.readerServer?.stop();
    },
  },
  metadata: {
    deps: [],
    start: async (ctx, o) => {
      // The database behind the service: MongoDB when configured, else SQLite under the home directory.
      const stores = { ...(o.stores?.mongo ? { mongo: o.stores.mongo } : {}) };
      const opened = await openMetadataStore({ home: o.home, ...(o.clock ? { clock: o.clock } : {}) }, stores);
      const server = await serveMetadata(opened.metadata, o.listen ?? '127.0.0.1:7073', withRefusalLog(internalServerSecurity(o.stores?.security), ctx.log!));
      ctx.metadataServer = { port: server.port, stop: async () => (await server.stop(), await opened.close()) };
    },
    stop: async (ctx) => {
      await ctx.metadataServer?.stop();
    },
  },
  all: { deps: ['scheduler', 'worker'], start: async () => undefined, stop: async () => undefined },
};

/** The share of blocks traced: BLOCKVAULT_TRACE_BLOCKS (0..1), else 0.01. */
export function traceBlockRatioFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['BLOCKVAULT_TRACE_BLOCKS'];
  if (text === undefined || text === '') return DEFAULT_BLOCK_TRACE_RATIO;
  const ratio = Number(text);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new InvalidArgumentError(`BLOCKVAULT_TRACE_BLOCKS must be a ratio from 0 to 1, got ${JSON.stringify(text)}`);
  return ratio;
}

/** Refused calls go to the log (method, peer, reason; never the token). */
function withRefusalLog(security: ServerSecurity | undefined, log: Logger): ServerSecurity | undefined {
  const refusals = log.child({ module: 'auth' });
  return security && { ...security, onDenied: (e) => refusals.warn(e, 'call refused') };
}

/** Modules in start order: dependencies first. */
export function resolveModules(target: string): string[] {
  if (!(TARGETS as readonly string[]).includes(target)) throw new InvalidArgumentError(`unknown target ${JSON.stringify(target)}: use ${TARGETS.join(', ')}`);
  const order: string[] = [];
  const visit = (name: string): void => {
    if (order.includes(name)) return;
    for (const d of MODULES[name]!.deps) visit(d);
    order.push(name);
  };
  visit('metrics');
  visit(target);
  return order;
}

export async function serve(options: ServeOptions): Promise<Running> {
  const order = resolveModules(options.target);
  const ctx: Context = { log: options.logger ?? createLogger(`blockvault-${options.target}`) };
  const started: string[] = [];
  const stop = async (): Promise<void> => {
    for (const name of [...started].reverse()) await MODULES[name]!.stop(ctx);
  };
  try {
    for (const name of order) {
      await MODULES[name]!.start(ctx, options);
      started.push(name);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  ctx.log?.info({ modules: order, port: ctx.grpc?.port ?? ctx.blobServer?.port ?? ctx.readerServer?.port ?? ctx.metadataServer?.port, metricsPort: ctx.metrics?.port }, 'serving');
  return { port: ctx.grpc?.port ?? ctx.blobServer?.port ?? ctx.readerServer?.port ?? ctx.metadataServer?.port, metricsPort: ctx.metrics?.port, modules: order.filter((m) => m !== 'metrics' || ctx.metrics), stop };
}

/**
 * A service's main: serve `target` configured from the environment (BLOCKVAULT_NATS_URL,
 * BLOCKVAULT_GRPC_LISTEN, BLOCKVAULT_HOME, the store settings) until SIGINT or SIGTERM. Errors
 * are one line, with the CLI's exit codes: 2 bad settings, 6 a server unreachable, 1 otherwise.
 */
export async function runServiceFromEnv(target: Target, name: string): Promise<void> {
  const env = process.env;
  const telemetry = await startTelemetry(name);
  let running: Running;
  try {
    running = await serve({
      target,
      natsUrl: env['BLOCKVAULT_NATS_URL'] ?? 'nats://127.0.0.1:4222',
      ...(env['BLOCKVAULT_GRPC_LISTEN'] ? { listen: env['BLOCKVAULT_GRPC_LISTEN'] } : {}),
      home: env['BLOCKVAULT_HOME'] ?? join(homedir(), '.local', 'share', 'blockvault'),
      stores: storesFromEnv(),
    });
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    const code = isBlockvaultError(err) ? err.code : '';
    process.exit(code === 'INVALID_ARGUMENT' ? 2 : code === 'UNAVAILABLE' ? 6 : 1);
  }
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await running.stop();
  await telemetry.shutdown();
}
