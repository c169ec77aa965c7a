/** The BlobStore contract through the blob-store service (gRPC streams) in front of files. */
import { after } from 'node:test';
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
