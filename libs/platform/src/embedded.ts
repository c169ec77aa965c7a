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
  Repository,
  systemClock,
  type BlobStore,
  type Clock,
  type HashAlgorithm,
  type MetadataStore,
  type RepositoryConfig,
} from '@blockvault/core';
import { FileIo } from '@blockvault/adapter-file-io';
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
  /** Random numbers for the sanity check's sample. @default Math.random */
  readonly random?: () => number;
}

export interface EmbeddedRepository {
  readonly repository: Repository;
  readonly metadata: SqliteMetadataStore;
  readonly blobs: FsBlobStore;
  readonly events: MemoryEventBus;
  readonly home: string;
  close(): Promise<void>;
}

const MIN_BLOCK_SIZE = 4096;
const MAX_BLOCK_SIZE = 64 * 1024 * 1024;

export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedRepository> {
  const { home } = options;
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || blockSize % 4096 !== 0) {
    throw new InvalidArgumentError(`block size ${blockSize} must be a multiple of 4096 between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  }
  const requestedHash = options.hash ?? 'blake3';
  createHasher(requestedHash);
  mkdirSync(join(home, 'blobs'), { recursive: true, mode: 0o700 });
  const clock = options.clock ?? systemClock;
  const metadataPath = options.metadataPath ?? join(home, 'metadata.sqlite');
  const metadata = new SqliteMetadataStore(metadataPath);
  const locks = new SqliteLocks(metadataPath, clock, { override: options.overrideLocks ?? false, onOverride: options.onLockOverride });
  const wanted: RepositoryConfig = {
    formatVersion: 1,
    hash: requestedHash,
    blockSize,
    blocksPerSegment: options.blocksPerSegment ?? DEFAULT_BLOCKS_PER_SEGMENT,
    disallowRmWhenYoungerThanDays: options.disallowRmWhenYoungerThanDays ?? 0,
    createdAt: clock.now().toISOString(),
  };
  const config = await metadata.initConfig(wanted);
  for (const key of ['hash', 'blockSize', 'blocksPerSegment'] as const) {
    if (options[key] !== undefined && options[key] !== config[key]) {
      await metadata.close();
      locks.close();
      throw new InvalidArgumentError(`the repository in ${home} uses ${key} ${config[key]}, fixed when it was created; it cannot change to ${options[key]}`);
    }
  }
  const blobs = new FsBlobStore(join(home, 'blobs'));
  const store = options.wrapBlobStore ? options.wrapBlobStore(blobs) : blobs;
  const events = new MemoryEventBus();
  const repository = new Repository({
    config,
    hasher: createHasher(config.hash),
    metadata: options.wrapMetadata ? options.wrapMetadata(metadata) : metadata,
    blobs: store,
    locks,
    events,
    clock,
    io: new IoRegistry([new FileIo()]),
    owner: `${hostname()}:${process.pid}`,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    sessionTtlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    random: options.random ?? Math.random,
    ...defaultUids,
  });
  return {
    repository,
    metadata,
    blobs,
    events,
    home,
    close: async () => {
      await metadata.close();
      locks.close();
    },
  };
}
