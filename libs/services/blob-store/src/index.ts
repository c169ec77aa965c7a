export { blobStoreService, serveBlobStore, BLOB_MESSAGE_LIMIT, type BlobStoreServer } from './server.ts';
export { RemoteBlobStore } from './client.ts';
