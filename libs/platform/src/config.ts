/**
 * Where a repository's parts live, read once from the environment (and flags), validated with
 * errors that name the bad key. Unset parts are embedded under the home directory.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | BLOCKVAULT_HOME | home directory (SQLite metadata, file blobs) | ~/.local/share/blockvault |
 * | BLOCKVAULT_MONGO_URL | metadata in MongoDB / FerretDB instead of SQLite | unset |
 * | BLOCKVAULT_MONGO_DATABASE | database name | the URL's, else `blockvault` |
 * | BLOCKVAULT_S3_ENDPOINT | blobs in S3 instead of files (host name) | unset |
 * | BLOCKVAULT_S3_PORT | port | 443 (80 without TLS) |
 * | BLOCKVAULT_S3_USE_SSL | `true` or `false` | true |
 * | BLOCKVAULT_S3_ACCESS_KEY, BLOCKVAULT_S3_SECRET_KEY | credentials (required with S3) | unset |
 * | BLOCKVAULT_S3_REGION | region | us-east-1 |
 * | BLOCKVAULT_S3_BUCKET | bucket, created if missing | blockvault |
 * | BLOCKVAULT_BLOBSTORE_URL | blobs through the blob-store service (host:port) | unset |
 * | BLOCKVAULT_READER_URL | sources and targets through the reader service (host:port) | unset |
 * | BLOCKVAULT_METADATA_URL | metadata through the metadata service (host:port); locks then come from NATS | unset |
 * | BLOCKVAULT_NATS_URL | NATS, for locks and events beside the metadata service (the CLI; `serve` takes --nats) | unset |
 */
import { InvalidArgumentError } from '@blockvault/core';
import type { S3Options } from '@blockvault/adapter-s3';

export interface StoresConfig {
  readonly mongo?: { readonly url: string; readonly database?: string };
  readonly s3?: S3Options;
  /** host:port of a blob-store service; a worker then never talks to the store itself. */
  readonly blobService?: string;
  /** host:port of a reader service; file:// and rbd:// I/O then happens on its host. */
  readonly readerService?: string;
  /** host:port of a metadata service; only it reaches the database. */
  readonly metadataService?: string;
  /** NATS for locks and events where the metadata service is used outside `serve` (the CLI). */
  readonly natsUrl?: string;
}

export function storesFromEnv(env: NodeJS.ProcessEnv = process.env): StoresConfig {
  const get = (key: string): string | undefined => (env[key] === '' ? undefined : env[key]);
  const mongoUrl = get('BLOCKVAULT_MONGO_URL');
  const endPoint = get('BLOCKVAULT_S3_ENDPOINT');
  let s3: S3Options | undefined;
  if (endPoint) {
    const useSslText = get('BLOCKVAULT_S3_USE_SSL') ?? 'true';
    if (useSslText !== 'true' && useSslText !== 'false') throw new InvalidArgumentError(`BLOCKVAULT_S3_USE_SSL must be true or false, got ${JSON.stringify(useSslText)}`);
    const useSSL = useSslText === 'true';
    const portText = get('BLOCKVAULT_S3_PORT') ?? (useSSL ? '443' : '80');
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`BLOCKVAULT_S3_PORT must be a port number, got ${JSON.stringify(portText)}`);
    const accessKey = get('BLOCKVAULT_S3_ACCESS_KEY');
    const secretKey = get('BLOCKVAULT_S3_SECRET_KEY');
    if (!accessKey || !secretKey) throw new InvalidArgumentError('BLOCKVAULT_S3_ACCESS_KEY and BLOCKVAULT_S3_SECRET_KEY are required with BLOCKVAULT_S3_ENDPOINT');
    const bucket = get('BLOCKVAULT_S3_BUCKET') ?? 'blockvault';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new InvalidArgumentError(`BLOCKVAULT_S3_BUCKET ${JSON.stringify(bucket)} is not a valid bucket name`);
    s3 = { endPoint, port, useSSL, accessKey, secretKey, region: get('BLOCKVAULT_S3_REGION') ?? 'us-east-1', bucket };
  }
  const blobService = get('BLOCKVAULT_BLOBSTORE_URL');
  if (blobService && !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(blobService)) throw new InvalidArgumentError(`BLOCKVAULT_BLOBSTORE_URL must be host:port, got ${JSON.stringify(blobService)}`);
  const readerService = get('BLOCKVAULT_READER_URL');
  if (readerService && !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(readerService)) throw new InvalidArgumentError(`BLOCKVAULT_READER_URL must be host:port, got ${JSON.stringify(readerService)}`);
  const metadataService = get('BLOCKVAULT_METADATA_URL');
  if (metadataService && !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(metadataService)) throw new InvalidArgumentError(`BLOCKVAULT_METADATA_URL must be host:port, got ${JSON.stringify(metadataService)}`);
  return {
    ...(readerService ? { readerService } : {}),
    ...(metadataService ? { metadataService } : {}),
    ...(metadataService && get('BLOCKVAULT_NATS_URL') ? { natsUrl: get('BLOCKVAULT_NATS_URL') } : {}),
    ...(mongoUrl ? { mongo: { url: mongoUrl, database: get('BLOCKVAULT_MONGO_DATABASE') } } : {}),
    ...(s3 ? { s3 } : {}),
    ...(blobService ? { blobService } : {}),
  };
}
