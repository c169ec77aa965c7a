/**
 * The store registry (restic's `location/registry.go`): every metadata backend, blob backend and
 * I/O module is one entry here, with the configuration it reads and how it opens. Entries are
 * listed in order of preference: the first one configured is used. Adding a backend (say Azure
 * Blob) is one entry in BLOB_BACKENDS plus a run of the shared contract suite against it (see the
 * README, "Adding a store"). Drivers load only when their entry is chosen, so the embedded mode
 * stays small and starts fast.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type BlobStore, type Clock, type IoModule, type Locks, type MetadataStore } from '@blockvault/core';
import { FileIo } from '@blockvault/adapter-file-io';
import { RbdIo } from '@blockvault/adapter-rbd';
import { FsBlobStore, SqliteLocks, SqliteMetadataStore } from '@blockvault/adapter-embedded';
import type { BlockvaultConfig, IoConfig } from './config/load.ts';
import { internalClientSecurity } from './config/security.ts';

/** What opening a store may need besides the configuration. */
export interface OpenContext {
  readonly clock: Clock;
  /** The SQLite database; ':memory:' for a throwaway one. @default <home>/metadata.sqlite */
  readonly metadataPath?: string;
  /** Take locks held by others (`--override-lock`), each reported to `onLockOverride`. */
  readonly overrideLocks?: boolean;
  readonly onLockOverride?: (name: string, holder: string) => void;
}

export interface OpenedMetadata {
  readonly metadata: MetadataStore;
  /** The database's own leases; undefined for the metadata service (locks then come from NATS). */
  readonly locks: Locks | undefined;
  /** Where it is, for messages (credentials redacted). */
  readonly where: string;
  close(): Promise<void>;
}

export interface OpenedBlobs {
  readonly blobs: BlobStore;
  readonly where: string;
  close(): Promise<void>;
}

export interface MetadataBackend {
  readonly name: 'metadata-service' | 'mongodb' | 'sqlite';
  configured(config: BlockvaultConfig): boolean;
  open(config: BlockvaultConfig, ctx: OpenContext): Promise<OpenedMetadata>;
}

export interface BlobBackend {
  readonly name: 'blob-store-service' | 's3' | 'files';
  configured(config: BlockvaultConfig): boolean;
  open(config: BlockvaultConfig): Promise<OpenedBlobs>;
}

export interface IoBackend {
  readonly name: 'reader-service' | 'local';
  configured(config: BlockvaultConfig): boolean;
  open(config: BlockvaultConfig): Promise<{ readonly modules: IoModule[]; close(): Promise<void> }>;
}

export type MetadataBackendName = MetadataBackend['name'];
export type BlobBackendName = BlobBackend['name'];

export const METADATA_BACKENDS: readonly MetadataBackend[] = [
  {
    name: 'metadata-service',
    configured: (c) => c.stores.metadata.service !== undefined,
    open: async (c) => {
      const { RemoteMetadataStore } = await import('@blockvault/service-metadata');
      const address = c.stores.metadata.service!;
      const security = internalClientSecurity(c.security);
      const metadata = new RemoteMetadataStore(address, security ? { security } : {});
      return { metadata, locks: undefined, where: `metadata service ${address}`, close: () => metadata.close() };
    },
  },
  {
    name: 'mongodb',
    configured: (c) => c.stores.metadata.mongo !== undefined,
    open: async (c, ctx) => {
      const { MongoLocks, openMongo, redactUrl } = await import('@blockvault/adapter-mongodb');
      const mongo = c.stores.metadata.mongo!;
      const { client, store } = await openMongo({ ...mongo, clock: ctx.clock });
      const db = client.db(mongo.database ?? (client.options.dbName || 'blockvault'));
      const locks = new MongoLocks(db, ctx.clock, { override: ctx.overrideLocks ?? false, onOverride: ctx.onLockOverride });
      return { metadata: store, locks, where: redactUrl(mongo.url), close: () => store.close() };
    },
  },
  {
    name: 'sqlite',
    configured: () => true,
    open: async (c, ctx) => {
      mkdirSync(c.home, { recursive: true, mode: 0o700 });
      const path = ctx.metadataPath ?? join(c.home, 'metadata.sqlite');
      const metadata = new SqliteMetadataStore(path, ctx.clock);
      const locks = new SqliteLocks(path, ctx.clock, { override: ctx.overrideLocks ?? false, onOverride: ctx.onLockOverride });
      return {
        metadata,
        locks,
        where: c.home,
        close: async () => {
          await metadata.close();
          locks.close();
        },
      };
    },
  },
];

export const BLOB_BACKENDS: readonly BlobBackend[] = [
  {
    name: 'blob-store-service',
    configured: (c) => c.stores.blobs.service !== undefined,
    open: async (c) => {
      const { RemoteBlobStore } = await import('@blockvault/service-blob-store');
      const address = c.stores.blobs.service!;
      const blobs = new RemoteBlobStore(address, internalClientSecurity(c.security), { presigned: c.stores.blobs.presigned });
      return { blobs, where: `blob-store service ${address}`, close: () => blobs.close() };
    },
  },
  {
    name: 's3',
    configured: (c) => c.stores.blobs.s3 !== undefined,
    open: async (c) => {
      const { S3BlobStore } = await import('@blockvault/adapter-s3');
      const s3 = c.stores.blobs.s3!;
      const blobs = new S3BlobStore(s3);
      await blobs.init();
      return { blobs, where: `s3://${s3.endPoint}/${s3.bucket}`, close: () => blobs.close() };
    },
  },
  {
    name: 'files',
    configured: () => true,
    open: async (c) => {
      mkdirSync(join(c.home, 'blobs'), { recursive: true, mode: 0o700 });
      const blobs = new FsBlobStore(join(c.home, 'blobs'));
      return { blobs, where: join(c.home, 'blobs'), close: () => blobs.close() };
    },
  },
];

/** file:// and rbd:// on this host, confined to the configured roots. */
export function localIo(io: IoConfig): IoModule[] {
  const roots = io.roots;
  return [new FileIo(roots ? { roots: roots.paths } : {}), new RbdIo({ python: io.rbdPython, ...(roots ? { pools: roots.pools } : {}) })];
}

/** Modules that hold nothing open. */
const nothingToClose = async (): Promise<void> => undefined;

export const IO_BACKENDS: readonly IoBackend[] = [
  {
    name: 'reader-service',
    configured: (c) => c.io.reader !== undefined,
    open: async (c) => {
      const { RemoteIo, RoutedIo } = await import('@blockvault/service-reader');
      const security = internalClientSecurity(c.security);
      if (c.io.reader !== 'discover') {
        return {
          modules: [new RemoteIo('file', c.io.reader!, security), new RemoteIo('rbd', c.io.reader!, security)],
          close: nothingToClose,
        };
      }
      if (!c.nats.url)
        throw new InvalidArgumentError('BLOCKVAULT_READER_URL=discover finds the readers in NATS: set BLOCKVAULT_NATS_URL too');
      const { NatsReaderDirectory, openNats } = await import('@blockvault/adapter-nats');
      const nc = await openNats({ url: c.nats.url, name: 'blockvault-readers', ...(c.nats.auth ? { auth: c.nats.auth } : {}) });
      const directory = await NatsReaderDirectory.open(nc);
      return {
        modules: [new RoutedIo('file', directory, security), new RoutedIo('rbd', directory, security)],
        close: async () => {
          await nc.drain();
        },
      };
    },
  },
  { name: 'local', configured: () => true, open: async (c) => ({ modules: localIo(c.io), close: nothingToClose }) },
];

/**
 * The first configured entry not excluded. A service process excludes its own service's entry:
 * the metadata service stores in MongoDB or SQLite even where BLOCKVAULT_METADATA_URL is set for
 * the processes beside it.
 */
export function choose<E extends { readonly name: string; configured(c: BlockvaultConfig): boolean }>(
  entries: readonly E[],
  config: BlockvaultConfig,
  exclude: readonly string[] = [],
): E {
  const entry = entries.find((e) => !exclude.includes(e.name) && e.configured(config));
  if (!entry) throw new Error(`no store entry fits (excluded: ${exclude.join(', ')}); the registry's last entry must always fit`);
  return entry;
}
