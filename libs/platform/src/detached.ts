/**
 * Working from the blob store alone, for when the metadata database is lost: restore one version
 * from the metadata copy stored beside its blocks (never opening the configured database), or
 * rebuild the whole database (`recover`). The blob store is the configured one, the blob-store
 * service included.
 */
import {
  BlobNotFoundError,
  metadataKey,
  NotFoundError,
  parseExport,
  type BlobStore,
  type ExportDocument,
  type HashAlgorithm,
  type Repository,
} from '@blockvault/core';
import type { BlockvaultConfig } from './config/load.ts';
import { openBlobBackend, openRepository, type OpenRepository, type RepositoryOptions } from './repository.ts';

async function readDocument(blobs: BlobStore, uid: string): Promise<ExportDocument> {
  try {
    return parseExport((await blobs.get(metadataKey(uid))).toString('utf8'), metadataKey(uid));
  } catch (err) {
    if (err instanceof BlobNotFoundError) throw new NotFoundError(`the blob store has no metadata copy of version ${uid}`, { cause: err });
    throw err;
  }
}

async function firstDocument(blobs: BlobStore): Promise<ExportDocument | undefined> {
  for await (const key of blobs.list('versions/')) return parseExport((await blobs.get(key)).toString('utf8'), key);
  return undefined;
}

/** Reads with the configured blob backend, closing it afterwards. */
async function withBlobs<T>(config: BlockvaultConfig, fn: (blobs: BlobStore) => Promise<T>): Promise<T> {
  const backend = await openBlobBackend(config);
  try {
    return await fn(backend.blobs);
  } finally {
    await backend.close();
  }
}

/**
 * A repository whose metadata lives in memory and holds just this version, read from the blob
 * store; restore from it as from any repository. The configured metadata database (MongoDB, the
 * metadata service, the home's SQLite) is never opened.
 */
export async function openVersionFromBlobStore(
  config: BlockvaultConfig,
  uid: string,
  options: RepositoryOptions = {},
): Promise<{ repository: Repository; close(): Promise<void> }> {
  const doc = await withBlobs(config, (blobs) => readDocument(blobs, uid));
  const r = doc.body.repository;
  const opened = await openRepository(config, {
    ...options,
    exclude: { metadata: ['metadata-service', 'mongodb'] },
    metadataPath: ':memory:',
    hash: r.hash as HashAlgorithm,
    blockSize: r.blockSize,
    blocksPerSegment: r.blocksPerSegment,
  });
  try {
    await opened.repository.importVersion(doc);
  } catch (err) {
    await opened.close();
    throw err;
  }
  return { repository: opened.repository, close: () => opened.close() };
}

/**
 * Opens the configured repository for `recover`, taking hash and block layout from the stored
 * copies. It writes into the configured database, so that one is opened (and an unreachable one
 * is reported as unavailable).
 */
export async function openForRecovery(config: BlockvaultConfig, options: RepositoryOptions = {}): Promise<OpenRepository> {
  const doc = await withBlobs(config, firstDocument);
  const r = doc?.body.repository;
  return openRepository(config, {
    ...options,
    ...(r ? { hash: r.hash as HashAlgorithm, blockSize: r.blockSize, blocksPerSegment: r.blocksPerSegment } : {}),
  });
}
