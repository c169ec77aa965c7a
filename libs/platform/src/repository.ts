/**
 * One place composes a repository from the configuration: the registry's backends (stores.ts),
 * then around the blob store a deadline on each call and retries of unavailability (core's
 * store-wrappers.ts), then any test or metrics wrapper, then the transforms (the codec). The CLI,
 * every service and the tests open repositories only through here.
 */
import { hostname } from 'node:os';
import {
  createHasher,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_BLOCKS_PER_SEGMENT,
  DEFAULT_CONCURRENCY,
  DEFAULT_SESSION_TTL_MS,
  DeadlineBlobStore,
  defaultUids,
  InvalidArgumentError,
  IoRegistry,
  Keyring,
  Repository,
  RetryingBlobStore,
  TransformCodec,
  systemClock,
  type BlobStore,
  type Clock,
  type EventBus,
  type HashAlgorithm,
  type Locks,
  type MetadataStore,
  type RepositoryConfig,
  type RetryPolicy,
} from '@blockvault/core';
import { FsBlobStore, MemoryEventBus, SqliteMetadataStore } from '@blockvault/adapter-embedded';
import { defaultConfig, type BlockvaultConfig } from './config/load.ts';
import type { TransformSettings } from './config/keys.ts';
import {
  BLOB_BACKENDS,
  choose,
  IO_BACKENDS,
  METADATA_BACKENDS,
  type BlobBackendName,
  type MetadataBackendName,
  type OpenedBlobs,
  type OpenedMetadata,
} from './stores.ts';

export interface RepositoryOptions {
  /** Used only when the repository is created. @default 'blake3' */
  readonly hash?: HashAlgorithm;
  /** Used only when the repository is created. @default 4194304 */
  readonly blockSize?: number;
  /** @default 256 */
  readonly blocksPerSegment?: number;
  /** Used only when the repository is created: `rm` without force refuses younger versions. @default 0 */
  readonly disallowRmWhenYoungerThanDays?: number;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Random numbers in [0, 1): the sanity check's sample, block trace sampling, retry jitter. @default Math.random */
  readonly random?: () => number;
  /** Blocks in flight. @default 8 */
  readonly concurrency?: number;
  /** Wraps the metadata store (metrics, fault injection in tests). @default none */
  readonly wrapMetadata?: (store: MetadataStore) => MetadataStore;
  /** Wraps the blob store inside the transforms, outside retries (fault injection in tests). @default none */
  readonly wrapBlobStore?: (store: BlobStore) => BlobStore;
  /** Wraps the blob backend inside the deadline and retries (faults a real store would have, in tests). @default none */
  readonly wrapBlobBackend?: (store: BlobStore) => BlobStore;
  /** A deadline on each blob store call. @default BLOCKVAULT_STORE_DEADLINE_MS */
  readonly blobCallDeadlineMs?: number;
  /** How unavailability of the blob store is retried. @default backoff with jitter for BLOCKVAULT_STORE_RETRY_MS */
  readonly blobRetry?: RetryPolicy;
  /** Told before each retry of a blob store call (the services log it as a warning). */
  readonly onBlobRetry?: RetryPolicy['onRetry'];
  /** A backup session not renewed for this long expires. @default 300000 */
  readonly sessionTtlMs?: number;
  /** Take locks held by others (`--override-lock`); each override is reported to `onLockOverride`. @default false */
  readonly overrideLocks?: boolean;
  readonly onLockOverride?: (name: string, holder: string) => void;
  /** The I/O modules. @default the registry's choice (the reader service, else file:// and rbd:// here) */
  readonly io?: IoRegistry;
  /** The event bus (NATS in the services). @default NATS beside the metadata service, else in process */
  readonly events?: EventBus;
  /** The locks (NATS KV in the services). @default the database's leases; NATS beside the metadata service */
  readonly locks?: Locks;
  /** The SQLite database; ':memory:' for a throwaway one. @default <home>/metadata.sqlite */
  readonly metadataPath?: string;
  /** The share of blocks with spans of their own. @default the configuration's (BLOCKVAULT_TRACE_BLOCKS) */
  readonly traceBlockRatio?: number;
  /** Registry entries not to use (a detached repository never opens the configured database). */
  readonly exclude?: { readonly metadata?: readonly MetadataBackendName[]; readonly blobs?: readonly BlobBackendName[] };
}

export interface OpenRepository {
  readonly repository: Repository;
  /** The backend's metadata store, unwrapped. */
  readonly metadata: MetadataStore;
  /** The backend's blob store, without deadlines, retries or transforms. */
  readonly blobs: BlobStore;
  readonly events: EventBus;
  close(): Promise<void>;
}

const MIN_BLOCK_SIZE = 4096;
const MAX_BLOCK_SIZE = 64 * 1024 * 1024;

function checkOptions(options: RepositoryOptions): { blockSize: number; hash: HashAlgorithm } {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || blockSize % 4096 !== 0) {
    throw new InvalidArgumentError(`block size ${blockSize} must be a multiple of 4096 between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  }
  const hash = options.hash ?? 'blake3';
  createHasher(hash);
  return { blockSize, hash };
}

/** Closes in reverse order of opening; every closer runs even when one fails. */
class Closers {
  readonly #all: (() => Promise<void>)[] = [];

  add(close: () => Promise<void>): void {
    this.#all.push(close);
  }

  async close(): Promise<void> {
    let first: unknown;
    for (const c of this.#all.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}

/** The configured metadata backend (not wrapped). */
export function openMetadataBackend(config: BlockvaultConfig, options: RepositoryOptions = {}): Promise<OpenedMetadata> {
  const entry = choose(METADATA_BACKENDS, config, options.exclude?.metadata);
  return entry.open(config, {
    clock: options.clock ?? systemClock,
    ...(options.metadataPath ? { metadataPath: options.metadataPath } : {}),
    overrideLocks: options.overrideLocks ?? false,
    ...(options.onLockOverride ? { onLockOverride: options.onLockOverride } : {}),
  });
}

/** The configured blob backend (not wrapped). */
export function openBlobBackend(config: BlockvaultConfig, options: RepositoryOptions = {}): Promise<OpenedBlobs> {
  return choose(BLOB_BACKENDS, config, options.exclude?.blobs).open(config);
}

/** The blob store the engines use: backend, deadline per call, retries, then the caller's wrapper. */
export function composeBlobStore(backend: OpenedBlobs, config: BlockvaultConfig, options: RepositoryOptions): BlobStore {
  const raw = options.wrapBlobBackend ? options.wrapBlobBackend(backend.blobs) : backend.blobs;
  const deadlined = new DeadlineBlobStore(raw, options.blobCallDeadlineMs ?? config.stores.blobs.deadlineMs, backend.where);
  const retried = new RetryingBlobStore(
    deadlined,
    options.blobRetry ?? {
      maxElapsedMs: config.stores.blobs.retryMs,
      ...(options.random ? { random: options.random } : {}),
      ...(options.onBlobRetry ? { onRetry: options.onBlobRetry } : {}),
    },
  );
  return options.wrapBlobStore ? options.wrapBlobStore(retried) : retried;
}

async function natsParts(
  config: BlockvaultConfig,
  options: RepositoryOptions,
  closers: Closers,
  needEvents: boolean,
): Promise<{ locks: Locks; events?: EventBus }> {
  if (!config.nats.url)
    throw new InvalidArgumentError('the metadata service (BLOCKVAULT_METADATA_URL) needs the locks in NATS: set BLOCKVAULT_NATS_URL too');
  // The CLI beside a distributed deployment: the services' locks and event stream.
  const { NatsEventBus, NatsLocks, eventSource, openNats } = await import('@blockvault/adapter-nats');
  const nc = await openNats({ url: config.nats.url, name: 'blockvault-cli', ...(config.nats.auth ? { auth: config.nats.auth } : {}) });
  closers.add(async () => {
    await nc.drain();
  });
  const locks = await NatsLocks.open(nc, options.clock ?? systemClock, {
    ttlMs: config.queue.lockTtlMs,
    override: options.overrideLocks ?? false,
    onOverride: options.onLockOverride,
  });
  if (!needEvents) return { locks };
  const events = await NatsEventBus.open(nc, { source: eventSource(config.nats.deployment, 'cli') });
  closers.add(() => events.flush());
  return { locks, events };
}

/** The repository as configured. The caller closes it. */
export async function openRepository(config: BlockvaultConfig, options: RepositoryOptions = {}): Promise<OpenRepository> {
  const { blockSize, hash } = checkOptions(options);
  const clock = options.clock ?? systemClock;
  const closers = new Closers();
  try {
    const meta = await openMetadataBackend(config, options);
    closers.add(() => meta.close());
    let locks = options.locks ?? meta.locks;
    let events = options.events;
    if (!locks) {
      const parts = await natsParts(config, options, closers, !events);
      locks = parts.locks;
      events ??= parts.events;
    }
    events ??= new MemoryEventBus();
    const backend = await openBlobBackend(config, options);
    closers.add(() => backend.close());
    const where = [meta.where, backend.where].join(' + ');
    const wanted: RepositoryConfig = {
      formatVersion: 1,
      hash,
      blockSize,
      blocksPerSegment: options.blocksPerSegment ?? DEFAULT_BLOCKS_PER_SEGMENT,
      disallowRmWhenYoungerThanDays: options.disallowRmWhenYoungerThanDays ?? 0,
      createdAt: clock.now().toISOString(),
    };
    const repoConfig = await meta.metadata.initConfig(wanted);
    for (const key of ['hash', 'blockSize', 'blocksPerSegment'] as const) {
      if (options[key] !== undefined && options[key] !== repoConfig[key]) {
        throw new InvalidArgumentError(
          `the repository in ${where} uses ${key} ${repoConfig[key]}, fixed when it was created; it cannot change to ${options[key]}`,
        );
      }
    }
    const blobs = composeBlobStore(backend, config, options);
    const t = config.stores.transforms;
    const codec = new TransformCodec({
      maxBlockSize: repoConfig.blockSize,
      ...(t?.compressionLevel !== undefined ? { compressionLevel: t.compressionLevel } : {}),
      ...(t?.masterKeys ? { keyring: new Keyring(blobs, t.masterKeys, clock) } : {}),
    });
    let io = options.io;
    if (!io) {
      const opened = await choose(IO_BACKENDS, config).open(config);
      closers.add(() => opened.close());
      io = new IoRegistry(opened.modules);
    }
    const repository = new Repository({
      config: repoConfig,
      hasher: createHasher(repoConfig.hash),
      metadata: options.wrapMetadata ? options.wrapMetadata(meta.metadata) : meta.metadata,
      blobs,
      codec,
      locks,
      events,
      clock,
      io,
      owner: `${hostname()}:${process.pid}`,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      sessionTtlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
      traceBlockRatio: options.traceBlockRatio ?? config.telemetry.traceBlockRatio,
      random: options.random ?? Math.random,
      ...defaultUids,
    });
    return { repository, metadata: meta.metadata, blobs: backend.blobs, events, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}

export interface EmbeddedOptions extends RepositoryOptions {
  /** The repository's directory; created on first use. */
  readonly home: string;
  /** Compression and encryption of new blobs. @default none */
  readonly transforms?: TransformSettings;
}

export interface EmbeddedRepository extends OpenRepository {
  readonly metadata: SqliteMetadataStore;
  readonly blobs: FsBlobStore;
  readonly home: string;
}

/** The embedded repository under `home` (SQLite, files, an in-process bus), whatever the environment says. */
export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedRepository> {
  const config = defaultConfig(options.home);
  const opened = await openRepository(
    options.transforms ? { ...config, stores: { ...config.stores, transforms: options.transforms } } : config,
    options,
  );
  return { ...opened, metadata: opened.metadata as SqliteMetadataStore, blobs: opened.blobs as FsBlobStore, home: options.home };
}
