/** Serves a BlobStore (files or S3) over gRPC: proto/blockvault/v1/blobstore.proto. */
import { ConflictError, InvalidArgumentError, type BlobStore } from '@blockvault/core';
import {
  encodeWithBytes,
  MESSAGE_LIMIT_BYTES,
  send,
  startServer,
  toServiceError,
  type ServerSecurity,
  type StartedServer,
} from '@blockvault/grpc-edge';
import {
  BlobStoreServiceService,
  type BlobChunk,
  type BlobStoreServiceServer,
  type PutBlobRequest,
  reflectionDescriptors,
} from '@blockvault/proto';

const CHUNK = 1024 * 1024;
export const BLOB_MESSAGE_LIMIT = MESSAGE_LIMIT_BYTES;

const status = toServiceError;

/** How long a presigned URL stays valid: long enough for a slow transfer, short enough to be worth little when leaked. */
export const PRESIGN_SECONDS = 900;
const BLOCK_BLOB_KEY = /^[0-9a-f]{8,64}$/;

/** The largest blob a Put takes: the largest block (64 MiB) with its header; more is refused, not buffered. */
export const MAX_BLOB_BYTES = 64 * 1024 * 1024 + 1024;

export function blobStoreService(store: BlobStore): BlobStoreServiceServer {
  return {
    put: (call, callback) => {
      let key = '';
      const chunks: Buffer[] = [];
      let size = 0;
      let refused = false;
      call.on('data', (m: PutBlobRequest) => {
        if (refused) return;
        if (m.key) key = m.key;
        size += m.chunk.length;
        if (size > MAX_BLOB_BYTES) {
          refused = true;
          chunks.length = 0;
          callback(status(new InvalidArgumentError(`blob ${key} is larger than ${MAX_BLOB_BYTES} bytes`)));
          return;
        }
        if (m.chunk.length > 0) chunks.push(m.chunk);
      });
      call.on('end', () => {
        if (refused) return;
        store.put(key, chunks).then(
          () => callback(null, { size: chunks.reduce((n, c) => n + c.length, 0) }),
          (err: unknown) => callback(status(err)),
        );
      });
      call.on('error', () => undefined);
    },
    get: (call) => {
      store.get(call.request.key).then(
        async (data) => {
          for (let at = 0; at < data.length || at === 0; at += CHUNK) {
            // Respect flow control: wait for the client to drain before the next chunk.
            if (!(await send(call, { chunk: data.subarray(at, at + CHUNK) }))) return; // the client went away
            if (data.length === 0) break;
          }
          call.end();
        },
        (err: unknown) => call.emit('error', status(err)),
      );
    },
    stat: (call, callback) => {
      store.stat(call.request.key).then(
        (s) => callback(null, { exists: s !== undefined, size: s?.size ?? 0 }),
        (err: unknown) => callback(status(err)),
      );
    },
    delete: (call, callback) => {
      store.delete(call.request.keys).then(
        () => callback(null, {}),
        (err: unknown) => callback(status(err)),
      );
    },
    presign: (call, callback) => {
      void (async () => {
        try {
          const { method, keys } = call.request;
          if (method !== 'PUT' && method !== 'GET')
            throw new InvalidArgumentError(`method ${JSON.stringify(method.slice(0, 16))}: PUT or GET`);
          if (keys.length > 1000) throw new InvalidArgumentError(`${keys.length} keys: at most 1000 per call`);
          const bad = keys.find((k) => !BLOCK_BLOB_KEY.test(k));
          if (bad !== undefined) throw new InvalidArgumentError(`${JSON.stringify(bad.slice(0, 80))} is not a block blob key`);
          const presign = store.presign?.bind(store);
          if (!presign) throw new ConflictError('the store behind this blob-store service signs no URLs (files): use Put and Get');
          const urls = await Promise.all(keys.map((k) => presign(method, k, PRESIGN_SECONDS)));
          callback(null, { urls, expirySeconds: PRESIGN_SECONDS });
        } catch (err) {
          callback(status(err));
        }
      })();
    },
    list: (call) => {
      void (async () => {
        try {
          for await (const { key, modified } of store.listWithDates(call.request.prefix)) {
            if (!(await send(call, { key, modified: modified.toISOString() }))) return; // the client went away
          }
          call.end();
        } catch (err) {
          call.emit('error', status(err));
        }
      })();
    },
  };
}

export type BlobStoreServer = StartedServer;

/** The generated definition, with block bytes encoded in one copy (grpc-edge wire.ts). */
const BLOB_STORE_DEFINITION = {
  ...BlobStoreServiceService,
  get: { ...BlobStoreServiceService.get, responseSerialize: (m: BlobChunk): Buffer => encodeWithBytes([], 1, m.chunk) },
};

/** `security`: TLS and the cluster token (as its only grant, with admin). */
export function serveBlobStore(store: BlobStore, address: string, security?: ServerSecurity): Promise<BlobStoreServer> {
  return startServer(
    'blockvault.v1.BlobStoreService',
    address,
    'blockvault/v1/blobstore.proto',
    {
      definition: BLOB_STORE_DEFINITION,
      implementation: blobStoreService(store),
      descriptors: reflectionDescriptors('blockvault/v1/blobstore.proto'),
    },
    security,
  );
}
