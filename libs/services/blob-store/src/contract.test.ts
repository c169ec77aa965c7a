/** The BlobStore contract through the blob-store service (gRPC streams) in front of files. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { InvalidArgumentError } from '@blockvault/core';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import { blobStoreContract, tempDir } from '@blockvault/testing';
import { RemoteBlobStore } from './client.ts';
import { serveBlobStore, type BlobStoreServer } from './server.ts';

const dir = await tempDir();
let server: BlobStoreServer | undefined;
after(async () => {
  await server?.stop();
  await dir.remove();
});

blobStoreContract('blob-store service over gRPC', async () => {
  server = await serveBlobStore(new FsBlobStore(dir.file('blobs')), '127.0.0.1:0');
  return new RemoteBlobStore(`127.0.0.1:${server.port}`);
});

describe('blob-store service limits', () => {
  it('refuses a blob larger than the largest block, without storing it', async () => {
    const store = new FsBlobStore(dir.file('limits'));
    const limited = await serveBlobStore(store, '127.0.0.1:0');
    const remote = new RemoteBlobStore(`127.0.0.1:${limited.port}`);
    try {
      const chunk = Buffer.alloc(8 * 1024 * 1024);
      await assert.rejects(remote.put('00112233aabbccdd', Array(9).fill(chunk)), InvalidArgumentError);
      assert.equal(await store.stat('00112233aabbccdd'), undefined);
    } finally {
      await remote.close();
      await limited.stop();
    }
  });
});
