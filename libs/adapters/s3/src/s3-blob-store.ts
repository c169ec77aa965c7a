/**
 * BlobStore on any S3-compatible store (MinIO, Ceph RGW, AWS S3) through the `minio` client.
 *
 * Key layout: block blobs at `blocks/<uid[0:2]>/<uid>` (hex uids spread evenly; `cleanup --full
 * --prefix ab` lists one slice), version metadata copies at `versions/<uid>`. A PUT that S3
 * acknowledged is durable, which is all the engine needs of `put`. Every SDK error is translated
 * here: missing keys to BlobNotFoundError, refused credentials to AuthenticationError, the rest
 * (network errors, 5xx, SlowDown) to UnavailableError, which the platform's retry wrapper retries
 * (core's store-wrappers.ts): the adapter itself does not retry.
 */
import { Client, S3Error } from 'minio';
import {
  AuthenticationError,
  BlobNotFoundError,
  InvalidArgumentError,
  UnavailableError,
  isBlockvaultError,
  isNetworkError,
  type BlobStore,
} from '@blockvault/core';

export interface S3Options {
  readonly endPoint: string;
  readonly port?: number;
  /** @default true */
  readonly useSSL?: boolean;
  readonly accessKey: string;
  readonly secretKey: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  readonly bucket: string;
  /** Path-style addressing (RGW, MinIO on one host). @default true */
  readonly pathStyle?: boolean;
}

const BLOB_KEY = /^[0-9a-f]{8,64}$/;
/** Documents beside the blocks: version metadata copies and wrapped data keys. */
const META_KEY = /^(versions|keys)\/[A-Za-z0-9_.:-]{1,128}$/;
const AUTH_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken']);
const TRANSIENT_CODES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed']);
function objectName(key: string): string {
  if (BLOB_KEY.test(key)) return `blocks/${key.slice(0, 2)}/${key}`;
  if (META_KEY.test(key)) return key;
  throw new InvalidArgumentError(`invalid blob key ${JSON.stringify(key)}`);
}

function keyOf(name: string): string {
  return name.startsWith('blocks/') ? name.slice(name.lastIndexOf('/') + 1) : name;
}

function isTransient(err: unknown): boolean {
  const e = err as { code?: string; $metadata?: unknown; statusCode?: number };
  if (err instanceof S3Error) return TRANSIENT_CODES.has(e.code ?? '') || (e.statusCode ?? 0) >= 500;
  return isNetworkError(err);
}

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly #client: Client;
  readonly #where: string;

  constructor(options: S3Options) {
    this.bucket = options.bucket;
    this.#where = `s3://${options.endPoint}${options.port ? `:${options.port}` : ''}/${options.bucket}`;
    this.#client = new Client({
      endPoint: options.endPoint,
      port: options.port,
      useSSL: options.useSSL ?? true,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region ?? 'us-east-1',
      pathStyle: options.pathStyle ?? true,
    });
  }

  /** Creates the bucket when it does not exist. */
  async init(): Promise<void> {
    await this.#call('check the bucket', async () => {
      if (!(await this.#client.bucketExists(this.bucket))) await this.#client.makeBucket(this.bucket);
    });
  }

  /** Translates SDK errors into the port's. Never logs secrets. */
  async #call<T>(what: string, fn: () => Promise<T>, key?: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isBlockvaultError(err)) throw err;
      const code = (err as { code?: string }).code ?? '';
      if ((code === 'NoSuchKey' || code === 'NotFound') && key !== undefined) throw new BlobNotFoundError(key, { cause: err });
      if (AUTH_CODES.has(code)) {
        throw new AuthenticationError(
          `${this.#where}: the S3 store refused the credentials (${code}); check the access key and secret key`,
          { cause: err },
        );
      }
      const kind = isTransient(err) ? 'unavailable' : 'failed';
      throw new UnavailableError(`${this.#where}: cannot ${what} (${kind}): ${(err as Error).message}`, { cause: err });
    }
  }

  async put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    const name = objectName(key);
    const body = chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks);
    await this.#call(`store blob ${key}`, () => this.#client.putObject(this.bucket, name, body, body.length));
  }

  /** Signed here, with no request to the store (the region is configured). */
  async presign(method: 'PUT' | 'GET', key: string, expirySeconds: number): Promise<string> {
    const name = objectName(key);
    return this.#call(`sign a ${method} of blob ${key}`, () => this.#client.presignedUrl(method, this.bucket, name, expirySeconds));
  }

  async get(key: string): Promise<Buffer> {
    const name = objectName(key);
    return this.#call(
      `read blob ${key}`,
      async () => {
        const stream = await this.#client.getObject(this.bucket, name);
        const parts: Buffer[] = [];
        for await (const part of stream) parts.push(part as Buffer);
        return Buffer.concat(parts);
      },
      key,
    );
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    const name = objectName(key);
    try {
      return await this.#call(`stat blob ${key}`, async () => ({ size: (await this.#client.statObject(this.bucket, name)).size }), key);
    } catch (err) {
      if (err instanceof BlobNotFoundError) return undefined;
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const names = keys.slice(i, i + 1000).map(objectName);
      const results = await this.#call('delete blobs', () => this.#client.removeObjects(this.bucket, names));
      const failed = results.filter((r) => r?.Error && r.Error.Code !== 'NoSuchKey');
      if (failed.length > 0)
        throw new UnavailableError(
          `${this.#where}: cannot delete ${failed.length} blobs: ${failed[0]?.Error?.Code} ${failed[0]?.Error?.Message}`,
        );
    }
  }

  async *list(prefix = ''): AsyncIterable<string> {
    for await (const item of this.listWithDates(prefix)) yield item.key;
  }

  async *listWithDates(prefix = ''): AsyncIterable<{ key: string; modified: Date }> {
    const s3prefix = /^(versions|keys)\//.test(prefix)
      ? prefix
      : prefix.length >= 2
        ? `blocks/${prefix.slice(0, 2)}/${prefix}`
        : `blocks/${prefix}`;
    try {
      for await (const item of this.#client.listObjectsV2(this.bucket, s3prefix, true)) {
        if ('name' in item && item.name) yield { key: keyOf(item.name), modified: item.lastModified };
      }
    } catch (err) {
      await this.#call('list blobs', () => Promise.reject(err));
    }
  }

  async close(): Promise<void> {
    // The client holds no connection that needs closing.
  }
}
