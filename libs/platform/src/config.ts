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
 * | BLOCKVAULT_COMPRESSION | `zstd` or `none`: how new blobs are compressed | none |
 * | BLOCKVAULT_COMPRESSION_LEVEL | zstd level 1-19 | 3 |
 * | BLOCKVAULT_ENCRYPTION_KEY_FILE | master keys (one `ID BASE64-32-BYTES` per line; the first wraps new data keys); new blobs are encrypted | unset |
 * | BLOCKVAULT_IO_ROOTS | where sources and targets may be: absolute paths and `rbd:POOL`, comma-separated; paths after symlinks | unset: anywhere |
 * | BLOCKVAULT_NATS_URL | NATS, for locks and events beside the metadata service (the CLI; `serve` takes --nats) | unset |
 */
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, type MasterKey } from '@blockvault/core';
import { natsAuthFromEnv, readSecret, securityFromEnv, type SecurityConfig } from './security.ts';
import type { NatsAuth } from '@blockvault/adapter-nats';
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
  /** How new blobs are transformed (every blob records its own, so any setting reads any blob). */
  readonly transforms?: TransformSettings;
  /** TLS and tokens of the gRPC channels (security.ts). */
  readonly security?: SecurityConfig;
  /** Where local sources and targets may be. */
  readonly ioRoots?: IoRoots;
  /** NATS credentials. */
  readonly natsAuth?: NatsAuth;
}

export interface IoRoots {
  readonly paths: readonly string[];
  readonly pools: readonly string[];
}

export function ioRootsFromEnv(env: NodeJS.ProcessEnv = process.env): IoRoots | undefined {
  const text = env['BLOCKVAULT_IO_ROOTS'];
  if (text === undefined || text.trim() === '') return undefined;
  const paths: string[] = [];
  const pools: string[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    if (entry.startsWith('rbd:') && /^[A-Za-z0-9_.+-]{1,128}$/.test(entry.slice(4))) pools.push(entry.slice(4));
    else if (entry.startsWith('/') && !/(^|\/)\.{1,2}(\/|$)/.test(entry)) paths.push(entry);
    else throw new InvalidArgumentError(`BLOCKVAULT_IO_ROOTS entry ${JSON.stringify(entry)}: use absolute paths (no . or ..) and rbd:POOL`);
  }
  return { paths, pools };
}

export interface TransformSettings {
  /** zstd level; undefined: no compression. */
  readonly compressionLevel?: number;
  /** Master keys (the first wraps new data keys); undefined: no encryption. */
  readonly masterKeys?: readonly MasterKey[];
  /** Where the master keys came from, for messages (never the keys). */
  readonly keySource?: string;
}

const KEY_LINE = /^([A-Za-z0-9_.-]{1,64})\s+([A-Za-z0-9+/=_-]+)$/;

/**
 * Reads a master key file: one `ID KEY` per line (KEY: 32 bytes in base64 or 64 hex digits),
 * blank lines and `#` comments ignored; the first key wraps new data keys, the others only
 * unwrap (rotation). Refused when group or others may read it. Errors never show key bytes.
 */
export function readKeyFile(path: string): MasterKey[] {
  const keys: MasterKey[] = [];
  for (const [i, raw] of readSecret('BLOCKVAULT_ENCRYPTION_KEY_FILE', path).split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = KEY_LINE.exec(line);
    const key = m ? (/^[0-9a-fA-F]{64}$/.test(m[2]!) ? Buffer.from(m[2]!, 'hex') : Buffer.from(m[2]!, 'base64')) : undefined;
    if (!m || key?.length !== 32) throw new InvalidArgumentError(`key file ${path} line ${i + 1}: expected \`ID KEY\` with a 32-byte key in base64 or hex`);
    keys.push({ id: m[1]!, key });
  }
  if (keys.length === 0) throw new InvalidArgumentError(`key file ${path} holds no key`);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new InvalidArgumentError(`key file ${path}: key ids must be distinct`);
  return keys;
}

/**
 * Puts a new random 32-byte master key first in a key file, creating the file with mode 600.
 * Returns the key ids now in it (the key itself is never shown).
 */
export async function addMasterKey(path: string, id: string): Promise<string[]> {
  const { randomBytes } = await import('node:crypto');
  const { writeFile, rename } = await import('node:fs/promises');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidArgumentError(`key id ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ . -`);
  let existing: MasterKey[] = [];
  let text = '';
  if (existsSync(path)) {
    existing = readKeyFile(path);
    text = readFileSync(path, 'utf8');
  }
  if (existing.some((k) => k.id === id)) throw new InvalidArgumentError(`key file ${path} already has a key ${id}`);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${id} ${randomBytes(32).toString('base64')}\n${text}`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
  return [id, ...existing.map((k) => k.id)];
}

export function transformsFromEnv(env: NodeJS.ProcessEnv = process.env): TransformSettings | undefined {
  const get = (key: string): string | undefined => (env[key] === '' ? undefined : env[key]);
  const compression = get('BLOCKVAULT_COMPRESSION') ?? 'none';
  if (compression !== 'none' && compression !== 'zstd') throw new InvalidArgumentError(`BLOCKVAULT_COMPRESSION must be zstd or none, got ${JSON.stringify(compression)}`);
  const levelText = get('BLOCKVAULT_COMPRESSION_LEVEL') ?? '3';
  const level = Number(levelText);
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new InvalidArgumentError(`BLOCKVAULT_COMPRESSION_LEVEL must be 1-19, got ${JSON.stringify(levelText)}`);
  const keyFile = get('BLOCKVAULT_ENCRYPTION_KEY_FILE');
  if (compression === 'none' && !keyFile) return undefined;
  return {
    ...(compression === 'zstd' ? { compressionLevel: level } : {}),
    ...(keyFile ? { masterKeys: readKeyFile(keyFile), keySource: keyFile } : {}),
  };
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
  const address = (key: string): string | undefined => {
    const value = get(key);
    if (value && !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(value)) throw new InvalidArgumentError(`${key} must be host:port, got ${JSON.stringify(value)}`);
    return value;
  };
  const blobService = address('BLOCKVAULT_BLOBSTORE_URL');
  const readerService = address('BLOCKVAULT_READER_URL');
  const metadataService = address('BLOCKVAULT_METADATA_URL');
  const transforms = transformsFromEnv(env);
  const security = securityFromEnv(env);
  const ioRoots = ioRootsFromEnv(env);
  const natsAuth = natsAuthFromEnv(env);
  return {
    ...(natsAuth ? { natsAuth } : {}),
    ...(ioRoots ? { ioRoots } : {}),
    ...(Object.keys(security).length > 0 ? { security } : {}),
    ...(transforms ? { transforms } : {}),
    ...(readerService ? { readerService } : {}),
    ...(metadataService ? { metadataService } : {}),
    ...(metadataService && get('BLOCKVAULT_NATS_URL') ? { natsUrl: get('BLOCKVAULT_NATS_URL') } : {}),
    ...(mongoUrl ? { mongo: { url: mongoUrl, database: get('BLOCKVAULT_MONGO_DATABASE') } } : {}),
    ...(s3 ? { s3 } : {}),
    ...(blobService ? { blobService } : {}),
  };
}
