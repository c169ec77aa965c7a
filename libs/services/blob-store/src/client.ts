/**
 * A BlobStore that is the blob-store service: workers use it where they do not reach the store
 * themselves. gRPC statuses become the port's typed errors again.
 */
import * as grpc from '@grpc/grpc-js';
import type { BlobStore } from '@blockvault/core';
import { channelCredentials, clientOptions, encodeWithBytes, fromServiceError, type ClientSecurity } from '@blockvault/grpc-edge';
import { BlobStoreServiceClient, BlobStoreServiceService, type BlobChunk, type ListedBlob, type PutBlobRequest } from '@blockvault/proto';

const CHUNK = 1024 * 1024;
/** A put, get, stat or delete that takes longer than this is abandoned as UNAVAILABLE (a hung store). */
const DEADLINE_MS = 300_000;
const deadline = (): Partial<grpc.CallOptions> => ({ deadline: Date.now() + DEADLINE_MS });

/** The generated client, with block bytes encoded in one copy (grpc-edge wire.ts). */
const BlobClient = grpc.makeGenericClientConstructor(
  {
    ...BlobStoreServiceService,
    put: {
      ...BlobStoreServiceService.put,
      requestSerialize: (m: PutBlobRequest): Buffer => encodeWithBytes([{ no: 1, type: 'string', value: m.key }], 2, m.chunk),
    },
  },
  'blockvault.v1.BlobStoreService',
) as unknown as typeof BlobStoreServiceClient;

export class RemoteBlobStore implements BlobStore {
  readonly #client: BlobStoreServiceClient;
  readonly #address: string;

  constructor(address: string, security?: ClientSecurity) {
    this.#address = address;
    this.#client = new BlobClient(address, channelCredentials(security?.tls), clientOptions(security));
  }

  #error(err: grpc.ServiceError, key?: string): Error {
    return fromServiceError(err, `blob-store service ${this.#address}`, key);
  }

  put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    return new Promise((done, fail) => {
      const call = this.#client.put(new grpc.Metadata(), deadline(), (err) => (err ? fail(this.#error(err, key)) : done()));
      void (async () => {
        let first = true;
        for (const c of chunks) {
          for (let at = 0; at < c.length; at += CHUNK) {
            // Backpressure: wait for the stream to drain rather than buffer the whole blob twice.
            if (!call.write({ key: first ? key : '', chunk: Buffer.from(c.buffer, c.byteOffset + at, Math.min(CHUNK, c.length - at)) }))
              await new Promise((r) => call.once('drain', r));
            first = false;
          }
        }
        if (first) call.write({ key, chunk: Buffer.alloc(0) });
        call.end();
      })();
    });
  }

  get(key: string): Promise<Buffer> {
    return new Promise((done, fail) => {
      const parts: Buffer[] = [];
      const stream = this.#client.get({ key }, new grpc.Metadata(), deadline());
      stream.on('data', (m: BlobChunk) => parts.push(m.chunk));
      stream.on('end', () => done(Buffer.concat(parts)));
      stream.on('error', (err: grpc.ServiceError) => fail(this.#error(err, key)));
    });
  }

  stat(key: string): Promise<{ size: number } | undefined> {
    return new Promise((done, fail) =>
      this.#client.stat({ key }, new grpc.Metadata(), deadline(), (err, res) =>
        err ? fail(this.#error(err, key)) : done(res.exists ? { size: res.size } : undefined),
      ),
    );
  }

  delete(keys: readonly string[]): Promise<void> {
    return new Promise((done, fail) =>
      this.#client.delete({ keys: [...keys] }, new grpc.Metadata(), deadline(), (err) => (err ? fail(this.#error(err)) : done())),
    );
  }

  async *list(prefix = ''): AsyncIterable<string> {
    for await (const item of this.listWithDates(prefix)) yield item.key;
  }

  async *listWithDates(prefix = ''): AsyncIterable<{ key: string; modified: Date }> {
    const stream = this.#client.list({ prefix });
    try {
      for await (const item of stream as AsyncIterable<ListedBlob>) yield { key: item.key, modified: new Date(item.modified) };
    } catch (err) {
      throw this.#error(err as grpc.ServiceError);
    }
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}
