/**
 * One binary, many targets (Tempo's `modules.go`): a registry of typed modules and their
 * dependencies. `all` runs every role in one process, wired in memory: the job API, the schedule
 * loop and a worker on the repository's own stores, with the job queue and events in process, or
 * on NATS when a NATS URL is configured. The other targets run one service each: `scheduler` and
 * `worker` share NATS and reach the stores as configured (the metadata, blob-store and reader
 * services included); `metadata`, `blob-store` and `reader` serve their store or host over gRPC.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidArgumentError, IoRegistry, isBlockvaultError, systemClock, type BlobStore, type Clock, type Locks } from '@blockvault/core';
import { eventSource, NatsEventBus, NatsLocks, NatsReaderDirectory, openNats } from '@blockvault/adapter-nats';
import { serveBlobStore, type BlobStoreServer } from '@blockvault/service-blob-store';
import { serveReader, type ReaderServer } from '@blockvault/service-reader';
import { serveMetadata, type MetadataServer } from '@blockvault/service-metadata';
import {
  DashboardServer,
  JetStreamJobQueue,
  jobReads,
  MemoryJobQueue,
  SchedulerLoop,
  serveJobApi,
  Worker,
  type GrpcServer,
  type JobQueue,
} from '@blockvault/service-jobs';
import {
  createLogger,
  currentTraceCarrier,
  serveMetrics,
  setQueueDepthSource,
  startTelemetry,
  type Logger,
  type MetricsServer,
} from '@blockvault/telemetry';
import type { ServerSecurity } from '@blockvault/grpc-edge';
import { loadConfig, type BlockvaultConfig } from './config/load.ts';
import { internalServerSecurity, jobApiSecurity } from './config/security.ts';
import { composeBlobStore, openBlobBackend, openMetadataBackend, openRepository, type OpenRepository } from './repository.ts';
import { localIo } from './stores.ts';
import { DEFAULT_LISTEN, DEFAULT_NBD_LISTEN, isTarget, TARGETS, type GrpcTarget, type Target } from './targets.ts';

export { startTelemetry } from '@blockvault/telemetry';

export { DEFAULT_LISTEN, DEFAULT_NBD_LISTEN, isTarget, TARGETS, type GrpcTarget, type Target } from './targets.ts';

export const MODULES = [
  'metrics',
  'bus',
  'repository',
  'queue',
  'scheduler',
  'worker',
  'blob-store',
  'reader',
  'metadata',
  'access',
] as const;
export type ModuleName = (typeof MODULES)[number];

/** Where the scheduler and worker targets find NATS when none is configured. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface ServeOptions {
  readonly target: Target;
  readonly config: BlockvaultConfig;
  readonly clock?: Clock;
  /** Structured logs. @default pino JSON on stderr at the configured level */
  readonly logger?: Logger;
  /** Repository options for tests (small blocks). */
  readonly blockSize?: number;
  readonly blocksPerSegment?: number;
}

export interface Running {
  /** The gRPC port of the target's server (the job API for all and scheduler). */
  readonly port: number | undefined;
  /** The /metrics port, when metrics are served. */
  readonly metricsPort: number | undefined;
  /** The dashboard's port (the scheduler) or the range endpoint's (access), when served (BLOCKVAULT_HTTP_LISTEN). */
  readonly httpPort: number | undefined;
  /** The access target's NBD port. */
  readonly nbdPort: number | undefined;
  readonly modules: readonly ModuleName[];
  /** Whether jobs go through NATS JetStream or the in-process queue. */
  readonly queue: 'jetstream' | 'in-process' | undefined;
  stop(): Promise<void>;
}

interface Context {
  readonly o: ServeOptions;
  readonly log: Logger;
  readonly clock: Clock;
  nc?: NatsConnection;
  repo?: OpenRepository;
  queue?: JobQueue;
  grpc?: GrpcServer;
  worker?: Worker;
  loop?: SchedulerLoop;
  server?: BlobStoreServer | ReaderServer | MetadataServer;
  closeStore?: () => Promise<void>;
  /** A reader's announcement in NATS. */
  stopAnnouncing?: () => Promise<void>;
  metrics?: MetricsServer;
  dashboard?: DashboardServer;
  httpPort?: number;
  /** The access target's servers. */
  access?: { stop(): Promise<void> };
  nbdPort?: number;
  /** Every module has started. */
  ready?: boolean;
}

interface Module {
  readonly deps: readonly ModuleName[];
  start(ctx: Context): Promise<void>;
  stop(ctx: Context): Promise<void>;
}

/** What /readyz says: starting, or NATS out of reach (the queue, KV and events live there). */
function notReady(ctx: Context): string | undefined {
  if (!ctx.ready) return 'starting';
  if (ctx.nc?.isClosed()) return 'the NATS connection is closed';
  return undefined;
}

const listen = (ctx: Context, target: GrpcTarget): string => ctx.o.config.services.listen ?? DEFAULT_LISTEN[target];
const owner = (): string => `${hostname()}:${process.pid}`;

const REGISTRY: Record<ModuleName, Module> = {
  metrics: {
    deps: [],
    start: async (ctx) => {
      const address = ctx.o.config.services.metricsListen;
      if (address) ctx.metrics = await serveMetrics(address, { notReady: () => notReady(ctx) });
    },
    stop: async (ctx) => {
      setQueueDepthSource(undefined);
      await ctx.metrics?.stop();
    },
  },
  bus: {
    deps: [],
    start: async (ctx) => {
      const { config, target } = ctx.o;
      // `all` without NATS runs the queue, events and locks in process; a service on its own shares NATS.
      const url = config.nats.url ?? (target === 'all' ? undefined : DEFAULT_NATS_URL);
      if (url) ctx.nc = await openNats({ url, name: `blockvault-${target}`, ...(config.nats.auth ? { auth: config.nats.auth } : {}) });
    },
    stop: async (ctx) => {
      await ctx.nc?.drain();
    },
  },
  repository: {
    deps: ['bus'],
    start: async (ctx) => {
      const { config, target, blockSize, blocksPerSegment } = ctx.o;
      const nc = ctx.nc;
      ctx.repo = await openRepository(config, {
        clock: ctx.clock,
        ...(nc ? { events: await NatsEventBus.open(nc, { source: eventSource(config.nats.deployment, target) }) } : {}),
        // Through the metadata service, leases live in NATS KV: shared by every process.
        ...(nc && config.stores.metadata.service ? { locks: await NatsLocks.open(nc, ctx.clock, { ttlMs: config.queue.lockTtlMs }) } : {}),
        ...(blockSize ? { blockSize } : {}),
        ...(blocksPerSegment ? { blocksPerSegment } : {}),
        onBlobRetry: (what, retry, err, delayMs) =>
          ctx.log.warn({ call: what, retry, delayMs: Math.round(delayMs), error: err.message }, 'the blob store is unavailable; retrying'),
      });
    },
    stop: async (ctx) => {
      await ctx.repo?.events.flush?.();
      await ctx.repo?.close();
    },
  },
  queue: {
    deps: ['bus'],
    start: async (ctx) => {
      const queue = ctx.nc
        ? await JetStreamJobQueue.open(ctx.nc, { ackWaitMs: ctx.o.config.queue.ackWaitMs })
        : new MemoryJobQueue(currentTraceCarrier);
      ctx.queue = queue;
      setQueueDepthSource(() => queue.pending());
    },
    stop: async (ctx) => {
      if (ctx.queue instanceof MemoryJobQueue) ctx.queue.close();
    },
  },
  scheduler: {
    deps: ['repository', 'queue'],
    start: async (ctx) => {
      const { config } = ctx.o;
      const repository = ctx.repo!.repository;
      const security = withRefusalLog(jobApiSecurity(config.security), ctx.log);
      ctx.grpc = await serveJobApi(
        { queue: ctx.queue!, repository, clock: ctx.clock },
        listen(ctx, ctx.o.target === 'all' ? 'all' : 'scheduler'),
        security,
      );
      // Leadership among replicas: a lease in NATS KV, or the database's own in one process.
      const locks: Locks = ctx.nc ? await NatsLocks.open(ctx.nc, ctx.clock) : repository.ctx.locks;
      ctx.loop = new SchedulerLoop({
        queue: ctx.queue!,
        repository,
        events: ctx.repo!.events,
        locks,
        clock: ctx.clock,
        owner: owner(),
        logger: ctx.log,
        tickMs: config.scheduler.tickMs,
      });
      ctx.loop.start();
      // The web dashboard and its JSON API, behind the same tokens (read permission), when asked for.
      if (config.services.httpListen) {
        const { DASHBOARD_DIST } = await import('@blockvault/dashboard-web');
        const at = config.services.httpListen.lastIndexOf(':');
        const refusals = ctx.log.child({ module: 'dashboard' });
        ctx.dashboard = new DashboardServer({
          reads: jobReads(repository),
          queue: ctx.queue!,
          events: ctx.repo!.events,
          assets: DASHBOARD_DIST,
          ...(security?.tokens ? { tokens: security.tokens } : {}),
          onDenied: (e) => refusals.warn(e, 'request refused'),
        });
        ctx.httpPort = (
          await ctx.dashboard.listen(config.services.httpListen.slice(0, at), Number(config.services.httpListen.slice(at + 1)))
        ).port;
      }
    },
    stop: async (ctx) => {
      await ctx.dashboard?.close();
      await ctx.loop?.stop();
      await ctx.grpc?.stop();
    },
  },
  worker: {
    deps: ['repository', 'queue'],
    start: async (ctx) => {
      ctx.worker = new Worker({
        queue: ctx.queue!,
        repository: ctx.repo!.repository,
        events: ctx.repo!.events,
        clock: ctx.clock,
        owner: owner(),
        logger: ctx.log,
        lockTtlMs: ctx.o.config.queue.lockTtlMs,
        outageRetryMs: ctx.o.config.queue.outageRetryMs,
      });
      await ctx.worker.start();
    },
    stop: async (ctx) => {
      await ctx.worker?.stop();
    },
  },
  'blob-store': {
    deps: [],
    start: async (ctx) => {
      // The store behind the service: S3 when configured, else files under the home directory.
      const backend = await openBlobBackend(ctx.o.config, { exclude: { blobs: ['blob-store-service'] } });
      ctx.closeStore = () => backend.close();
      ctx.server = await serveBlobStore(
        backend.blobs,
        listen(ctx, 'blob-store'),
        withRefusalLog(internalServerSecurity(ctx.o.config.security), ctx.log),
      );
    },
    stop: async (ctx) => {
      await ctx.server?.stop();
      await ctx.closeStore?.();
    },
  },
  reader: {
    deps: [],
    start: async (ctx) => {
      const { config } = ctx.o;
      const io = new IoRegistry(localIo(config.io));
      // Backups hash where the data is and store new blocks from here, through the deployment's
      // blob store: the blob-store service or S3, never a default under this reader's home.
      let blobs: BlobStore | undefined;
      if (config.stores.blobs.service || config.stores.blobs.s3) {
        const backend = await openBlobBackend(config);
        ctx.closeStore = () => backend.close();
        blobs = composeBlobStore(backend, config, {
          onBlobRetry: (what, retry, err, delayMs) =>
            ctx.log.warn(
              { call: what, retry, delayMs: Math.round(delayMs), error: err.message },
              'the blob store is unavailable; retrying',
            ),
        });
      } else {
        ctx.log.warn(
          'no blob store configured (BLOCKVAULT_BLOBSTORE_URL or BLOCKVAULT_S3_*): backups through this reader send every block to the worker',
        );
      }
      const address = listen(ctx, 'reader');
      ctx.server = await serveReader(io, address, withRefusalLog(internalServerSecurity(config.security), ctx.log), blobs);
      // With NATS, announce what this reader reaches, so that workers with BLOCKVAULT_READER_URL=discover route to it.
      if (config.nats.url) {
        const nc = await openNats({
          url: config.nats.url,
          name: 'blockvault-reader',
          ...(config.nats.auth ? { auth: config.nats.auth } : {}),
        });
        const host = address.slice(0, address.lastIndexOf(':'));
        const advertised = `${['0.0.0.0', '::', '[::]', ''].includes(host) ? hostname() : host}:${ctx.server.port}`;
        const announced = await (
          await NatsReaderDirectory.open(nc)
        ).announce({
          id: `${hostname()}-${process.pid}-${ctx.server.port}`,
          address: advertised,
          roots: config.io.roots?.paths ?? [],
          pools: config.io.roots?.pools ?? [],
        });
        ctx.stopAnnouncing = async () => {
          await announced.stop();
          await nc.drain();
        };
        ctx.log.info(
          { address: advertised, roots: config.io.roots?.paths ?? [], pools: config.io.roots?.pools ?? [] },
          'announced in NATS',
        );
      }
    },
    stop: async (ctx) => {
      await ctx.stopAnnouncing?.();
      await ctx.server?.stop();
      await ctx.closeStore?.();
    },
  },
  access: {
    deps: ['repository'],
    start: async (ctx) => {
      // Instant access for the deployment: every valid version over NBD (STARTTLS with the gRPC
      // certificates when set) and, with BLOCKVAULT_HTTP_LISTEN, the HTTP range endpoint.
      const { HttpRangeServer, NbdServer, versionCatalog } = await import('@blockvault/service-access');
      const { config } = ctx.o;
      const repository = ctx.repo!.repository;
      const exports = versionCatalog(repository);
      const log = ctx.log.child({ module: 'access' });
      const tls = config.security.tls;
      const nbd = new NbdServer({
        exports,
        blockSize: repository.ctx.config.blockSize,
        onWarning: (message) => log.warn(message),
        ...(tls?.cert && tls.key
          ? { tls: { cert: tls.cert, key: tls.key, ca: tls.ca, requireClientCert: tls.requireClientCert ?? false } }
          : {}),
      });
      const address = config.services.nbdListen ?? config.services.listen ?? DEFAULT_NBD_LISTEN;
      const at = address.lastIndexOf(':');
      ctx.nbdPort = (await nbd.listen(address.slice(0, at), Number(address.slice(at + 1)))).port;
      let http: InstanceType<typeof HttpRangeServer> | undefined;
      if (config.services.httpListen) {
        http = new HttpRangeServer({
          exports,
          ...(config.security.apiTokens ? { tokens: config.security.apiTokens } : {}),
          onWarning: (message) => log.warn(message),
        });
        const h = config.services.httpListen.lastIndexOf(':');
        ctx.httpPort = (await http.listen(config.services.httpListen.slice(0, h), Number(config.services.httpListen.slice(h + 1)))).port;
      }
      ctx.access = {
        stop: async () => {
          await http?.close();
          await nbd.close();
        },
      };
    },
    stop: async (ctx) => {
      await ctx.access?.stop();
    },
  },
  metadata: {
    deps: [],
    start: async (ctx) => {
      // The database behind the service: MongoDB when configured, else SQLite under the home directory.
      const opened = await openMetadataBackend(ctx.o.config, { clock: ctx.clock, exclude: { metadata: ['metadata-service'] } });
      ctx.closeStore = () => opened.close();
      ctx.server = await serveMetadata(
        opened.metadata,
        listen(ctx, 'metadata'),
        withRefusalLog(internalServerSecurity(ctx.o.config.security), ctx.log),
      );
    },
    stop: async (ctx) => {
      await ctx.server?.stop();
      await ctx.closeStore?.();
    },
  },
};

/** The modules each target names; their dependencies come with them. */
const TARGET_MODULES: Record<Target, readonly ModuleName[]> = {
  all: ['scheduler', 'worker'],
  scheduler: ['scheduler'],
  worker: ['worker'],
  'blob-store': ['blob-store'],
  reader: ['reader'],
  metadata: ['metadata'],
  access: ['access'],
};

/** Refused calls go to the log (method, peer, reason; never the token). */
function withRefusalLog(security: ServerSecurity | undefined, log: Logger): ServerSecurity | undefined {
  const refusals = log.child({ module: 'auth' });
  return security && { ...security, onDenied: (e) => refusals.warn(e, 'call refused') };
}

/** Modules in start order: dependencies first. */
export function resolveModules(target: string): ModuleName[] {
  if (!isTarget(target)) throw new InvalidArgumentError(`unknown target ${JSON.stringify(target)}: use ${TARGETS.join(', ')}`);
  const order: ModuleName[] = [];
  const visit = (name: ModuleName): void => {
    if (order.includes(name)) return;
    for (const d of REGISTRY[name].deps) visit(d);
    order.push(name);
  };
  visit('metrics');
  for (const m of TARGET_MODULES[target]) visit(m);
  return order;
}

export async function serve(options: ServeOptions): Promise<Running> {
  const order = resolveModules(options.target);
  const ctx: Context = {
    o: options,
    log: options.logger ?? createLogger(`blockvault-${options.target}`, { level: options.config.logging.level }),
    clock: options.clock ?? systemClock,
  };
  const started: ModuleName[] = [];
  // Every started module is stopped, whatever an earlier one threw: a process that stops half way
  // keeps connections open and never exits. The first failure is reported afterwards.
  const stop = async (): Promise<void> => {
    ctx.ready = false;
    let first: unknown;
    for (const name of started.splice(0).reverse()) {
      try {
        await REGISTRY[name].stop(ctx);
      } catch (err) {
        ctx.log.warn({ module: name, error: (err as Error).message }, 'module did not stop cleanly');
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  };
  try {
    for (const name of order) {
      await REGISTRY[name].start(ctx);
      started.push(name);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  ctx.ready = true;
  const port = ctx.grpc?.port ?? ctx.server?.port;
  const queue = ctx.queue ? (ctx.queue instanceof MemoryJobQueue ? 'in-process' : 'jetstream') : undefined;
  const modules = order.filter((m) => m !== 'metrics' || ctx.metrics);
  ctx.log.info({ modules, port, queue, metricsPort: ctx.metrics?.port, httpPort: ctx.httpPort, nbdPort: ctx.nbdPort }, 'serving');
  return { port, metricsPort: ctx.metrics?.port, httpPort: ctx.httpPort, nbdPort: ctx.nbdPort, modules, queue, stop };
}

/**
 * A service's main: serve `target` configured from the environment until SIGINT or SIGTERM.
 * Errors are one line, with the CLI's exit codes: 2 bad settings, 6 a server unreachable, 8
 * refused credentials, 1 otherwise.
 */
export async function runServiceFromEnv(target: Target, name: string): Promise<void> {
  let running: Running;
  let telemetry: Awaited<ReturnType<typeof startTelemetry>> | undefined;
  try {
    const config = loadConfig();
    telemetry = await startTelemetry(name);
    running = await serve({ target, config });
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    await telemetry?.shutdown();
    const code = isBlockvaultError(err) ? err.code : '';
    process.exit(code === 'INVALID_ARGUMENT' ? 2 : code === 'UNAVAILABLE' ? 6 : code === 'UNAUTHENTICATED' ? 8 : 1);
  }
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await running.stop();
  await telemetry.shutdown();
}
