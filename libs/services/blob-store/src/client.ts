/**
 * A BlobStore that is the blob-store service: workers use it where they do not reach the store
 * themselves. gRPC statuses become the port's typed errors again.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { AuthenticationError, BlobNotFoundError, UnavailableError, type BlobStore } from '@blockvault/core';
import { channelCredentials, clientOptions, encodeWithBytes, fromServiceError, send, type ClientSecurity } from '@blockvault/grpc-edge';
import { BlobStoreServiceClient, BlobStoreServiceService, type BlobChunk, type ListedBlob, type PutBlobRequest } from '@blockvault/proto';

const CHUNK = 1024 * 1024;
/** Block blobs go straight to S3 when presigned; metadata copies and data keys always through the service. */
const BLOCK_BLOB_KEY = /^[0-9a-f]{8,64}$/;
/** A put, get, stat or delete that takes longer than this is abandoned as UNAVAILABLE (a hung store). */
const DEADLINE_MS = 300_000;
const deadline = (): Partial<grpc.CallOptions> => ({ deadline: Date.now() + DEADLINE_MS });
/** Connections to S3 for presigned transfers, kept open between blobs. */
const HTTP_AGENT = new http.Agent({ keepAlive: true, maxSockets: 32 });
const HTTPS_AGENT = new https.Agent({ keepAlive: true, maxSockets: 32 });

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

export interface RemoteBlobStoreOptions {
  /**
   * Move blob bytes straight to and from the S3 store behind the service, with URLs it presigns,
   * so that they skip the service; stores that sign nothing (files) are used through it.
   * @default false
   */
  readonly presigned?: boolean;
}

export class RemoteBlobStore implements BlobStore {
  readonly #client: BlobStoreServiceClient;
  readonly #address: string;
  /** Whether the store behind signs URLs: unknown until the first answer. */
  #signs: boolean | undefined;

  constructor(address: string, security?: ClientSecurity, options: RemoteBlobStoreOptions = {}) {
    this.#address = address;
    this.#client = new BlobClient(address, channelCredentials(security?.tls), clientOptions(security));
    if (!options.presigned) this.#signs = false;
  }

  /** A presigned URL for one blob, or undefined when the store behind signs none. */
  async #signed(method: 'PUT' | 'GET', key: string): Promise<string | undefined> {
    if (this.#signs === false || !BLOCK_BLOB_KEY.test(key)) return undefined;
    try {
      const urls = await new Promise<string[]>((done, fail) =>
        this.#client.presign({ method, keys: [key] }, new grpc.Metadata(), deadline(), (err, res) => (err ? fail(err) : done(res.urls))),
      );
      this.#signs = true;
      return urls[0];
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (code === grpc.status.FAILED_PRECONDITION || code === grpc.status.UNIMPLEMENTED) {
        this.#signs = false;
        return undefined;
      }
      throw this.#error(err as grpc.ServiceError, key);
    }
  }

  /**
   * One HTTP request to a presigned URL (node:http with keep-alive: a 4 MiB body costs a
   * fraction of fetch's web streams); S3's answers become the port's errors.
   */
  #http(method: 'PUT' | 'GET', url: string, key: string, body?: Buffer): Promise<Buffer> {
    const where = `S3 (presigned by blob-store service ${this.#address})`;
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    return new Promise((done, fail) => {
      const req = (secure ? https : http).request(
        target,
        {
          method,
          agent: secure ? HTTPS_AGENT : HTTP_AGENT,
          timeout: DEADLINE_MS,
          headers: body ? { 'content-length': body.length } : {},
        },
        (res) => {
          // One buffer of the announced length, filled as parts arrive: no list of parts, no concatenation.
          const length = Number(res.headers['content-length'] ?? NaN);
          const whole = method === 'GET' && Number.isSafeInteger(length) && length >= 0 ? Buffer.allocUnsafeSlow(length) : undefined;
          let filled = 0;
          const parts: Buffer[] = [];
          res.on('data', (part: Buffer) => {
            if (whole && filled + part.length <= whole.length) filled += part.copy(whole, filled);
            else parts.push(part);
          });
          res.on('error', (err) =>
            fail(new UnavailableError(`${where}: ${method} of blob ${key} broke off: ${err.message}`, { cause: err })),
          );
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              if (whole && parts.length === 0 && filled === whole.length) return done(whole);
              return done(Buffer.concat([...(whole ? [whole.subarray(0, filled)] : []), ...parts]));
            }
            if (status === 404) return fail(new BlobNotFoundError(key));
            if (status === 403) {
              return fail(new AuthenticationError(`${where}: ${method} of blob ${key} refused (403): the URL's signature or clock`));
            }
            fail(new UnavailableError(`${where}: ${method} of blob ${key} answered ${status}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${DEADLINE_MS} ms`)));
      req.on('error', (err) => fail(new UnavailableError(`${where}: cannot ${method} blob ${key}: ${err.message}`, { cause: err })));
      req.end(body);
    });
  }

  #error(err: grpc.ServiceError, key?: string): Error {
    return fromServiceError(err, `blob-store service ${this.#address}`, key);
  }

  async put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    const url = await this.#signed('PUT', key);
    if (!url) return this.#putThrough(key, chunks);
    // S3 answers a PUT only once the object is durable.
    const body = chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks);
    await this.#http('PUT', url, key, body);
  }

  #putThrough(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    return new Promise((done, fail) => {
      let settled = false;
      const call = this.#client.put(new grpc.Metadata(), deadline(), (err) => {
        settled = true;
        if (err) fail(this.#error(err, key));
        else done();
      });
      void (async () => {
        let first = true;
        for (const c of chunks) {
          for (let at = 0; at < c.length; at += CHUNK) {
            // A call that already failed reads no more: its chunks may be freed once a retry stored them.
            if (settled) return;
            // Backpressure: wait for the stream to drain rather than buffer the whole blob twice.
            const chunk = Buffer.from(c.buffer, c.byteOffset + at, Math.min(CHUNK, c.length - at));
            if (!(await send(call, { key: first ? key : '', chunk }))) return; // failed: its callback says why
            first = false;
          }
        }
        if (first) call.write({ key, chunk: Buffer.alloc(0) });
        call.end();
      })().catch((err: unknown) => {
        call.cancel();
        fail(err);
      });
    });
  }

  async get(key: string): Promise<Buffer> {
    const url = await this.#signed('GET', key);
    if (!url) return this.#getThrough(key);
    return this.#http('GET', url, key);
  }

  #getThrough(key: string): Promise<Buffer> {
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
