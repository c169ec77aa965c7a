/**
 * Working from the blob store alone, for when the metadata database is lost: restore one version
 * from the metadata copy stored beside its blocks, or rebuild the whole database.
 */
import { join } from 'node:path';
import { BlobNotFoundError, metadataKey, NotFoundError, parseExport, type BlobStore, type ExportDocument, type HashAlgorithm, type Repository } from '@blockvault/core';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import type { StoresConfig } from './config.ts';
import { openRepository, type EmbeddedOptions, type OpenRepository } from './embedded.ts';

async function blobStore(home: string, stores: StoresConfig): Promise<BlobStore> {
  if (!stores.s3) return new FsBlobStore(join(home, 'blobs'));
  const { S3BlobStore } = await import('@blockvault/adapter-s3');
  const s3 = new S3BlobStore(stores.s3);
  await s3.init();
  return s3;
}

async function readDocument(blobs: BlobStore, uid: string): Promise<ExportDocument> {
  try {
    return parseExport((await blobs.get(metadataKey(uid))).toString('utf8'), metadataKey(uid));
  } catch (err) {
    if (err instanceof BlobNotFoundError) throw new NotFoundError(`the blob store has no metadata copy of version ${uid}`);
    throw err;
  }
}

async function firstDocument(blobs: BlobStore): Promise<ExportDocument | undefined> {
  for await (const key of blobs.list('versions/')) return parseExport((await blobs.get(key)).toString('utf8'), key);
  return undefined;
}

/**
 * A repository whose metadata lives in memory and holds just this version, read from the blob
 * store; restore from it as from any repository.
 */
export async function openVersionFromBlobStore(
  home: string,
  uid: string,
  options: Partial<EmbeddedOptions> & { stores?: StoresConfig } = {},
): Promise<{ repository: Repository; close(): Promise<void> }> {
  const stores = options.stores ?? {};
  const doc = await readDocument(await blobStore(home, stores), uid);
  const r = doc.body.repository;
  // Metadata in memory, blobs where they are.
  const embedded = await openRepository({
    stores: { ...(stores.s3 ? { s3: stores.s3 } : {}), ...(stores.transforms ? { transforms: stores.transforms } : {}) },
    ...options,
    home,
    metadataPath: ':memory:',
    hash: r.hash as HashAlgorithm,
    blockSize: r.blockSize,
    blocksPerSegment: r.blocksPerSegment,
  });
  await embedded.repository.importVersion(doc);
  return { repository: embedded.repository, close: () => embedded.close() };
}

/** Opens the repository for `recover`, taking hash and block layout from the stored copies. */
export async function openForRecovery(home: string, options: Partial<EmbeddedOptions> & { stores?: StoresConfig } = {}): Promise<OpenRepository> {
  const doc = await firstDocument(await blobStore(home, options.stores ?? {}));
  const r = doc?.body.repository;
  return openRepository({
    ...options,
    home,
    ...(r ? { hash: r.hash as HashAlgorithm, blockSize: r.blockSize, blocksPerSegment: r.blocksPerSegment } : {}),
  });
}
