/**
 * Presigned transfers: with S3 (Ceph RGW) behind the blob-store service, block blobs go straight
 * between its client and S3 by URLs the service signs, and the service moves no block bytes;
 * with files behind it, the same client goes through the service. The BlobStore contract holds
 * either way.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BlobNotFoundError, type BlobStore } from '@blockvault/core';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import { S3BlobStore } from '@blockvault/adapter-s3';
import { RemoteBlobStore, serveBlobStore, type BlobStoreServer } from '@blockvault/service-blob-store';
import { blobStoreContract, tempDir, useS3, type S3Handle, type TempDir } from '@blockvault/testing';

let s3: S3Handle;
let dir: TempDir;
const servers: BlobStoreServer[] = [];
const clients: RemoteBlobStore[] = [];

before(async () => {
  [s3, dir] = await Promise.all([useS3(), tempDir()]);
});
after(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) await s.stop();
  await Promise.all([s3?.stop(), dir?.remove()]);
});

/** The calls a store receives, by method. */
function counted(store: BlobStore): { store: BlobStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  return {
    calls,
    store: new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }),
  };
}

async function s3Store(): Promise<S3BlobStore> {
  const store = new S3BlobStore({ ...s3.config, bucket: `bv-presigned-${randomBytes(4).toString('hex')}` });
  await store.init();
  return store;
}

async function through(store: BlobStore, presigned: boolean): Promise<RemoteBlobStore> {
  const server = await serveBlobStore(store, '127.0.0.1:0');
  servers.push(server);
  const client = new RemoteBlobStore(`127.0.0.1:${server.port}`, undefined, { presigned });
  clients.push(client);
  return client;
}

blobStoreContract('blob-store service in front of RGW, presigned transfers', async () => through(await s3Store(), true));

describe('presigned transfers', () => {
  it('block blobs go straight to and from S3; the service signs and moves no block bytes', async () => {
    const backend = counted(await s3Store());
    const client = await through(backend.store, true);
    const blob = randomBytes(4 * 1024 * 1024 + 17);
    await client.put('0123456789abcdef', [blob.subarray(0, 1000), blob.subarray(1000)]);
    assert.deepEqual(await client.get('0123456789abcdef'), blob);
    assert.deepEqual(await (backend.store as S3BlobStore).get('0123456789abcdef'), blob, 'the object is in S3 itself');
    await assert.rejects(client.get('fedcba9876543210'), BlobNotFoundError, 'a missing blob is not found, as through the service');
    assert.equal(backend.calls['put'] ?? 0, 0, 'no block bytes went through the service to S3');
    assert.equal(backend.calls['get'] ?? 0, 1, 'only the test read through the service');
    assert.equal(backend.calls['presign'], 3, 'one signature per transfer');
    // Metadata copies and data keys always go through the service.
    await client.put('versions/v1', [Buffer.from('{}')]);
    assert.equal(backend.calls['put'], 1);
  });

  it('turned off, the same client moves blob bytes through the service', async () => {
    const backend = counted(await s3Store());
    const client = await through(backend.store, false);
    await client.put('0123456789abcdef', [Buffer.from('through')]);
    assert.deepEqual(await client.get('0123456789abcdef'), Buffer.from('through'));
    assert.equal(backend.calls['put'], 1);
    assert.equal(backend.calls['presign'] ?? 0, 0);
  });

  it('with files behind the service (nothing to sign), it goes through the service', async () => {
    const backend = counted(new FsBlobStore(dir.file('blobs')));
    const client = await through(backend.store, true);
    await client.put('0123456789abcdef', [Buffer.from('files')]);
    assert.deepEqual(await client.get('0123456789abcdef'), Buffer.from('files'));
    assert.equal(backend.calls['put'], 1);
    assert.equal(backend.calls['get'], 1);
  });
});
