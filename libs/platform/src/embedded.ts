/**
 * The embedded single-process repository: metadata and locks in SQLite, blobs in files, events
 * in memory, all under one home directory. This is the wiring the CLI uses by default.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  createHasher,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_BLOCKS_PER_SEGMENT,
  DEFAULT_CONCURRENCY,
  DEFAULT_SESSION_TTL_MS,
  defaultUids,
  InvalidArgumentError,
  IoRegistry,
  Keyring,
  Repository,
  TransformCodec,
  systemClock,
  type BlobStore,
  type Clock,
  type EventBus,
  type Locks,
  type HashAlgorithm,
  type MetadataStore,
  type RepositoryConfig,
} from '@blockvault/core';
import { FileIo } from '@blockvault/adapter-file-io';
import { RbdIo } from '@blockvault/adapter-rbd';
import type { IoRoots, StoresConfig, TransformSettings } from './config.ts';
import { internalClientSecurity } from './security.ts';
import { FsBlobStore, MemoryEventBus, SqliteLocks, SqliteMetadataStore } from '@blockvault/adapter-embedded';

export interface EmbeddedOptions {
  /** The repository's directory; created on first use. */
  readonly home: string;
  /** The metadata database; ':memory:' for a throwaway one. @default <home>/metadata.sqlite */
  readonly metadataPath?: string;
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
  /** Blocks in flight. @default 8 */
  readonly concurrency?: number;
  /** Wraps the metadata store (metrics, fault injection in tests). @default none */
  readonly wrapMetadata?: (store: MetadataStore) => MetadataStore;
  /** Wraps the blob store (retries, metrics, fault injection in tests). @default none */
  readonly wrapBlobStore?: (store: BlobStore) => BlobStore;
  /** A backup session not renewed for this long expires. @default 300000 */
  readonly sessionTtlMs?: number;
  /** Take locks held by others (`--override-lock`); each override is reported to `onLockOverride`. @default false */
  readonly overrideLocks?: boolean;
  readonly onLockOverride?: (name: string, holder: string) => void;
  /** The I/O modules (the reader service's client in the services). @default file:// and rbd:// here */
  readonly io?: IoRegistry;
  /** The event bus (NATS in the services). @default an in-process bus */
  readonly events?: EventBus;
  /** The locks (NATS KV in the services). @default the metadata database's leases */
  readonly locks?: Locks;
  /** Compression and encryption of new blobs. @default none */
  readonly transforms?: TransformSettings;
  /** The share of blocks that get their own spans when a trace is recorded. @default 0.01 */
  readonly traceBlockRatio?: number;
  /** Random numbers for the sanity check's sample. @default Math.random */
  readonly random?: () => number;
}

export interface EmbeddedRepository {
  readonly repository: Repository;
  readonly metadata: SqliteMetadataStore;
  readonly blobs: FsBlobStore;
  readonly events: EventBus;
  readonly home: string;
  close(): Promise<void>;
}

const MIN_BLOCK_SIZE = 4096;
const MAX_BLOCK_SIZE = 64 * 1024 * 1024;

/** file:// and rbd:// on this host, confined to `roots` when given. */
export function localIo(roots?: IoRoots): IoRegistry {
  return new IoRegistry([new FileIo(roots ? { roots: roots.paths } : {}), new RbdIo(roots ? { pools: roots.pools } : {})]);
}

interface Parts<M extends MetadataStore, B extends BlobStore> {
  readonly metadata: M;
  readonly blobs: B;
  readonly locks: Locks;
  readonly close: () => Promise<void>;
}

function checkOptions(options: EmbeddedOptions): { blockSize: number; hash: HashAlgorithm } {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || blockSize % 4096 !== 0) {
    throw new InvalidArgumentError(`block size ${blockSize} must be a multiple of 4096 between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  }
  const hash = options.hash ?? 'blake3';
  createHasher(hash);
  return { blockSize, hash };
}

/** Wires the engine onto the parts: one place per process where ports meet adapters. */
async function assemble<M extends MetadataStore, B extends BlobStore>(options: EmbeddedOptions, where: string, parts: Parts<M, B>) {
  const { blockSize, hash } = checkOptions(options);
  const clock = options.clock ?? systemClock;
  const wanted: RepositoryConfig = {
    formatVersion: 1,
    hash,
    blockSize,
    blocksPerSegment: options.blocksPerSegment ?? DEFAULT_BLOCKS_PER_SEGMENT,
    disallowRmWhenYoungerThanDays: options.disallowRmWhenYoungerThanDays ?? 0,
    createdAt: clock.now().toISOString(),
  };
  const config = await parts.metadata.initConfig(wanted);
  for (const key of ['hash', 'blockSize', 'blocksPerSegment'] as const) {
    if (options[key] !== undefined && options[key] !== config[key]) {
      await parts.close();
      throw new InvalidArgumentError(`the repository in ${where} uses ${key} ${config[key]}, fixed when it was created; it cannot change to ${options[key]}`);
    }
  }
  const events = options.events ?? new MemoryEventBus();
  const blobs = options.wrapBlobStore ? options.wrapBlobStore(parts.blobs) : parts.blobs;
  const t = options.transforms;
  const codec = new TransformCodec({
    maxBlockSize: config.blockSize,
    ...(t?.compressionLevel !== undefined ? { compressionLevel: t.compressionLevel } : {}),
    ...(t?.masterKeys ? { keyring: new Keyring(blobs, t.masterKeys) } : {}),
  });
  const repository = new Repository({
    config,
    hasher: createHasher(config.hash),
    metadata: options.wrapMetadata ? options.wrapMetadata(parts.metadata) : parts.metadata,
    blobs,
    codec,
    locks: parts.locks,
    events,
    clock,
    io: options.io ?? localIo(),
    owner: `${hostname()}:${process.pid}`,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    sessionTtlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    ...(options.traceBlockRatio !== undefined ? { traceBlockRatio: options.traceBlockRatio } : {}),
    random: options.random ?? Math.random,
    ...defaultUids,
  });
  return { repository, metadata: parts.metadata, blobs: parts.blobs, events, home: options.home, close: parts.close };
}

export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedRepository> {
  checkOptions(options);
  const { home } = options;
  mkdirSync(join(home, 'blobs'), { recursive: true, mode: 0o700 });
  const clock = options.clock ?? systemClock;
  const metadataPath = options.metadataPath ?? join(home, 'metadata.sqlite');
  const metadata = new SqliteMetadataStore(metadataPath);
  const locks = new SqliteLocks(metadataPath, clock, { override: options.overrideLocks ?? false, onOverride: options.onLockOverride });
  return assemble(options, home, {
    metadata,
    blobs: new FsBlobStore(join(home, 'blobs')),
    locks,
    close: async () => {
      await metadata.close();
      locks.close();
    },
  });
}

export interface OpenRepository {
  readonly repository: Repository;
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  readonly events: EventBus;
  close(): Promise<void>;
}

/**
 * The repository as configured: MongoDB metadata and leases and/or S3 blobs where `stores` says
 * so (see config.ts), the embedded parts under the home directory for the rest.
 */
export async function openRepository(options: EmbeddedOptions & { readonly stores?: StoresConfig }): Promise<OpenRepository> {
  const stores = options.stores ?? {};
  if (stores.transforms && !options.transforms) return openRepository({ ...options, transforms: stores.transforms });
  if (stores.ioRoots && !options.io && !stores.readerService) return openRepository({ ...options, io: localIo(stores.ioRoots) });
  if (stores.readerService && !options.io) {
    const { RemoteIo } = await import('@blockvault/service-reader');
    const address = stores.readerService;
    const security = internalClientSecurity(stores.security);
    return openRepository({ ...options, io: new IoRegistry([new RemoteIo('file', address, security), new RemoteIo('rbd', address, security)]) });
  }
  if (!stores.mongo && !stores.s3 && !stores.blobService && !stores.metadataService && !options.locks) return openEmbedded(options);
  checkOptions(options);
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const opened = await openMetadataStore(options, stores);
    closers.push(opened.close);
    const { metadata } = opened;
    let locks: Locks;
    let events = options.events;
    if (options.locks) locks = options.locks;
    else if (opened.locks) locks = opened.locks;
    else if (stores.natsUrl) {
      // The CLI beside a distributed deployment: the services' locks and event stream.
      const { NatsEventBus, NatsLocks, openNats } = await import('@blockvault/adapter-nats');
      const nc = await openNats({ url: stores.natsUrl, name: 'blockvault-cli', ...(stores.natsAuth ? { auth: stores.natsAuth } : {}) });
      closers.push(async () => {
        await nc.drain();
      });
      locks = await NatsLocks.open(nc, options.clock ?? systemClock, { ttlMs: lockTtlMs(), override: options.overrideLocks ?? false, onOverride: options.onLockOverride });
      if (!events) {
        const bus = await NatsEventBus.open(nc);
        events = bus;
        closers.push(async () => {
          await bus.flush();
        });
      }
    } else throw new InvalidArgumentError('the metadata service (BLOCKVAULT_METADATA_URL) needs the locks in NATS: set BLOCKVAULT_NATS_URL too');
    let blobs: BlobStore;
    if (stores.blobService) {
      const { RemoteBlobStore } = await import('@blockvault/service-blob-store');
      blobs = new RemoteBlobStore(stores.blobService, internalClientSecurity(stores.security));
      closers.push(() => blobs.close());
    } else if (stores.s3) {
      const { S3BlobStore } = await import('@blockvault/adapter-s3');
      const s3 = new S3BlobStore(stores.s3);
      await s3.init();
      blobs = s3;
    } else {
      mkdirSync(join(options.home, 'blobs'), { recursive: true, mode: 0o700 });
      blobs = new FsBlobStore(join(options.home, 'blobs'));
    }
    const blobWhere = stores.blobService ? `blob-store service ${stores.blobService}` : stores.s3 ? `s3://${stores.s3.endPoint}/${stores.s3.bucket}` : '';
    const where = [opened.where, blobWhere].filter(Boolean).join(' + ');
    return await assemble({ ...options, ...(events ? { events } : {}) }, where, { metadata, blobs, locks, close });
  } catch (err) {
    await close();
    throw err;
  }
}

export interface OpenMetadata {
  readonly metadata: MetadataStore;
  /** The database's own leases; undefined for the metadata service (locks then come from NATS). */
  readonly locks: Locks | undefined;
  /** Where it is, for messages (credentials redacted). */
  readonly where: string;
  close(): Promise<void>;
}

/**
 * The metadata store as configured: the metadata service, MongoDB, or SQLite under the home
 * directory. The metadata service's own process opens it this way too.
 */
export async function openMetadataStore(options: EmbeddedOptions, stores: StoresConfig): Promise<OpenMetadata> {
  const clock = options.clock ?? systemClock;
  const lockOptions = { override: options.overrideLocks ?? false, onOverride: options.onLockOverride };
  if (stores.metadataService) {
    const { RemoteMetadataStore } = await import('@blockvault/service-metadata');
    const security = internalClientSecurity(stores.security);
    const metadata = new RemoteMetadataStore(stores.metadataService, security ? { security } : {});
    return { metadata, locks: undefined, where: `metadata service ${stores.metadataService}`, close: () => metadata.close() };
  }
  if (stores.mongo) {
    // The driver loads only when configured: the embedded mode stays small and starts fast.
    const { MongoLocks, openMongo, redactUrl } = await import('@blockvault/adapter-mongodb');
    const { client, store } = await openMongo(stores.mongo);
    const locks = new MongoLocks(client.db(stores.mongo.database ?? (client.options.dbName || 'blockvault')), clock, lockOptions);
    return { metadata: store, locks, where: redactUrl(stores.mongo.url), close: () => store.close() };
  }
  mkdirSync(options.home, { recursive: true, mode: 0o700 });
  const path = options.metadataPath ?? join(options.home, 'metadata.sqlite');
  const sqlite = new SqliteMetadataStore(path);
  const locks = new SqliteLocks(path, clock, lockOptions);
  return {
    metadata: sqlite,
    locks,
    where: options.home,
    close: async () => {
      await sqlite.close();
      locks.close();
    },
  };
}

export const DEFAULT_LOCK_TTL_MS = 60_000;

/** The lease length of locks in NATS KV: BLOCKVAULT_LOCK_TTL_MS (tests use seconds), else 60 s. */
export function lockTtlMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['BLOCKVAULT_LOCK_TTL_MS'];
  if (text === undefined || text === '') return DEFAULT_LOCK_TTL_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1000) throw new InvalidArgumentError(`BLOCKVAULT_LOCK_TTL_MS must be a whole number of milliseconds >= 1000, got ${JSON.stringify(text)}`);
  return ms;
}
