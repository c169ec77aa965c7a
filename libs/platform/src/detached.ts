/**
 * Working from the blob store alone, for when the metadata database is lost: restore one version
 * from the metadata copy stored beside its blocks, or rebuild the whole database.
 */
import { join } from 'node:path';
import { BlobNotFoundError, metadataKey, NotFoundError, parseExport, type ExportDocument, type HashAlgorithm, type Repository } from '@blockvault/core';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import { openEmbedded, type EmbeddedOptions, type EmbeddedRepository } from './embedded.ts';

async function readDocument(blobs: FsBlobStore, uid: string): Promise<ExportDocument> {
  try {
    return parseExport((await blobs.get(metadataKey(uid))).toString('utf8'), metadataKey(uid));
  } catch (err) {
    if (err instanceof BlobNotFoundError) throw new NotFoundError(`the blob store has no metadata copy of version ${uid}`);
    throw err;
  }
}

async function firstDocument(blobs: FsBlobStore): Promise<ExportDocument | undefined> {
  for await (const key of blobs.list('versions/')) return parseExport((await blobs.get(key)).toString('utf8'), key);
  return undefined;
}

/**
 * A repository whose metadata lives in memory and holds just this version, read from the blob
 * store; restore from it as from any repository.
 */
export async function openVersionFromBlobStore(home: string, uid: string, options: Partial<EmbeddedOptions> = {}): Promise<{ repository: Repository; close(): Promise<void> }> {
  const doc = await readDocument(new FsBlobStore(join(home, 'blobs')), uid);
  const r = doc.body.repository;
  const embedded = await openEmbedded({
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
export async function openForRecovery(home: string, options: Partial<EmbeddedOptions> = {}): Promise<EmbeddedRepository> {
  const doc = await firstDocument(new FsBlobStore(join(home, 'blobs')));
  const r = doc?.body.repository;
  return openEmbedded({
    ...options,
    home,
    ...(r ? { hash: r.hash as HashAlgorithm, blockSize: r.blockSize, blocksPerSegment: r.blocksPerSegment } : {}),
  });
}
