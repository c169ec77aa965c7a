/**
 * The one configuration: environment and flags turned into one typed, validated value with a
 * section per concern. This is the only code that reads `process.env` (the OpenTelemetry SDK
 * reads its own OTEL_* variables). A bad value is refused at start with an InvalidArgumentError
 * that names the variable and what it accepts; nothing is silently replaced by a default. The CLI
 * and every service load it the same way, so they share every default.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@blockvault/core';
import type { NatsAuth } from '@blockvault/adapter-nats';
import type { S3Options } from '@blockvault/adapter-s3';
import { readKeyFile, type TransformSettings } from './keys.ts';
import { natsAuthFrom, securityFrom, type SecurityConfig } from './security.ts';
import { VARIABLES, type Variable } from './variables.ts';

export interface IoRoots {
  readonly paths: readonly string[];
  readonly pools: readonly string[];
}

export interface StoresConfig {
  /** Where the metadata lives: the metadata service, else MongoDB, else SQLite under the home. */
  readonly metadata: { readonly service?: string; readonly mongo?: { readonly url: string; readonly database?: string } };
  /** Where the blobs live: the blob-store service, else S3, else files under the home. */
  readonly blobs: {
    readonly service?: string;
    /** Block blobs straight to and from the S3 store behind the service, by presigned URL. */
    readonly presigned: boolean;
    readonly s3?: S3Options;
    readonly retryMs: number;
    readonly deadlineMs: number;
  };
  /** How new blobs are transformed (every blob records its own, so any setting reads any blob). */
  readonly transforms?: TransformSettings;
}

export interface IoConfig {
  /** Where local sources and targets may be; undefined: anywhere. */
  readonly roots?: IoRoots;
  /**
   * host:port of a reader service: file:// and rbd:// I/O then happens on its host; or
   * `discover`: the live readers announced in NATS, each URL going to the one that reaches it.
   */
  readonly reader?: string;
  readonly rbdPython: string;
}

export interface BlockvaultConfig {
  readonly home: string;
  readonly stores: StoresConfig;
  readonly io: IoConfig;
  readonly services: {
    readonly listen?: string;
    readonly metricsListen?: string;
    readonly httpListen?: string;
    readonly nbdListen?: string;
  };
  /** NATS; `url` undefined: `serve` runs the queue in process, the CLI uses the database's locks. */
  readonly nats: {
    readonly url?: string;
    readonly auth?: NatsAuth;
    /** Names the deployment in each event's source. @default 'default' */
    readonly deployment: string;
  };
  readonly queue: { readonly ackWaitMs: number; readonly lockTtlMs: number; readonly outageRetryMs: number };
  readonly scheduler: { readonly tickMs: number };
  readonly security: SecurityConfig;
  readonly telemetry: { readonly traceBlockRatio: number };
  readonly logging: { readonly level: string };
}

/** Flags that win over the environment. */
export interface ConfigFlags {
  readonly home?: string;
  readonly natsUrl?: string;
  readonly listen?: string;
}

const KNOWN = new Map<string, Variable>(VARIABLES.map((v) => [v.name, v]));
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$/;

/** Reads listed variables only; empty counts as unset. */
class Env {
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(env: Readonly<Record<string, string | undefined>>) {
    this.#env = env;
  }

  get(name: string): string | undefined {
    const variable = KNOWN.get(name);
    if (!variable) throw new Error(`${name} is read but not listed in config/variables.ts`);
    const value = this.#env[name];
    return value === undefined || value === '' ? undefined : value;
  }

  refuse(name: string, value: string): never {
    throw new InvalidArgumentError(
      `${name} must be ${KNOWN.get(name)!.accepts}, got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)}`,
    );
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const text = this.get(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) this.refuse(name, text);
    return n;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.get(name) ?? fallback;
    if (!(choices as readonly string[]).includes(text)) this.refuse(name, text);
    return text as T;
  }

  /** `flag` (named `flagName` in messages) wins over the variable. */
  hostPort(name: string, flag?: string, flagName?: string): string | undefined {
    const value = flag ?? this.get(name);
    if (value === undefined || validPort(value)) return value;
    if (flag !== undefined)
      throw new InvalidArgumentError(`${flagName ?? name} must be host:port, got ${JSON.stringify(value.slice(0, 80))}`);
    return this.refuse(name, value);
  }
}

function validPort(hostPort: string): boolean {
  if (!HOST_PORT.test(hostPort)) return false;
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return port >= 0 && port <= 65535;
}

function natsUrls(e: Env, flag: string | undefined): string | undefined {
  const text = flag ?? e.get('BLOCKVAULT_NATS_URL');
  if (text === undefined) return undefined;
  for (const part of text.split(',')) {
    let url: URL | undefined;
    try {
      url = new URL(part.trim());
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      url = undefined; // not a URL: refused below, naming the variable
    }
    if (
      !url ||
      !['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) ||
      !url.hostname ||
      url.pathname.replace(/^\/$/, '') !== '' ||
      url.search ||
      url.hash
    ) {
      throw new InvalidArgumentError(
        `${flag !== undefined ? '--nats' : 'BLOCKVAULT_NATS_URL'} must be nats://host:port (comma-separated for a cluster), got ${JSON.stringify(part.slice(0, 80))}`,
      );
    }
  }
  return text;
}

function deploymentName(e: Env): string {
  const name = e.get('BLOCKVAULT_DEPLOYMENT') ?? 'default';
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(name)) e.refuse('BLOCKVAULT_DEPLOYMENT', name);
  return name;
}

function s3Options(e: Env): S3Options | undefined {
  const endPoint = e.get('BLOCKVAULT_S3_ENDPOINT');
  if (!endPoint) return undefined;
  const useSSL = e.oneOf('BLOCKVAULT_S3_USE_SSL', ['true', 'false'], 'true') === 'true';
  const port = e.int('BLOCKVAULT_S3_PORT', useSSL ? 443 : 80, 1, 65535);
  const accessKey = e.get('BLOCKVAULT_S3_ACCESS_KEY');
  const secretKey = e.get('BLOCKVAULT_S3_SECRET_KEY');
  if (!accessKey || !secretKey)
    throw new InvalidArgumentError('BLOCKVAULT_S3_ACCESS_KEY and BLOCKVAULT_S3_SECRET_KEY are required with BLOCKVAULT_S3_ENDPOINT');
  const bucket = e.get('BLOCKVAULT_S3_BUCKET') ?? 'blockvault';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) e.refuse('BLOCKVAULT_S3_BUCKET', bucket);
  return { endPoint, port, useSSL, accessKey, secretKey, region: e.get('BLOCKVAULT_S3_REGION') ?? 'us-east-1', bucket };
}

function transforms(e: Env): TransformSettings | undefined {
  const compression = e.oneOf('BLOCKVAULT_COMPRESSION', ['none', 'zstd'], 'zstd');
  const level = e.int('BLOCKVAULT_COMPRESSION_LEVEL', 1, 1, 19);
  const keyFile = e.get('BLOCKVAULT_ENCRYPTION_KEY_FILE');
  if (compression === 'none' && !keyFile) return undefined;
  return {
    ...(compression === 'zstd' ? { compressionLevel: level } : {}),
    ...(keyFile ? { masterKeys: readKeyFile(keyFile), keySource: keyFile } : {}),
  };
}

function ioRoots(e: Env): IoRoots | undefined {
  const text = e.get('BLOCKVAULT_IO_ROOTS');
  if (text === undefined || text.trim() === '') return undefined;
  const paths: string[] = [];
  const pools: string[] = [];
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (entry.startsWith('rbd:') && /^[A-Za-z0-9_.+-]{1,128}$/.test(entry.slice(4))) pools.push(entry.slice(4));
    else if (entry.startsWith('/') && !/(^|\/)\.{1,2}(\/|$)/.test(entry)) paths.push(entry);
    else throw new InvalidArgumentError(`BLOCKVAULT_IO_ROOTS entry ${JSON.stringify(entry)}: use absolute paths (no . or ..) and rbd:POOL`);
  }
  return { paths, pools };
}

function traceRatio(e: Env): number {
  const text = e.get('BLOCKVAULT_TRACE_BLOCKS');
  if (text === undefined) return 0.01;
  const ratio = Number(text);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) e.refuse('BLOCKVAULT_TRACE_BLOCKS', text);
  return ratio;
}

/**
 * The configuration from `env` (process.env by default) and `flags`. Reads secret files named by
 * the environment (keys, tokens, TLS keys) and refuses them when others may read them.
 */
export function loadConfig(flags: ConfigFlags = {}, env: Readonly<Record<string, string | undefined>> = process.env): BlockvaultConfig {
  const e = new Env(env);
  const home = flags.home || e.get('BLOCKVAULT_HOME') || join(e.get('XDG_DATA_HOME') ?? join(homedir(), '.local', 'share'), 'blockvault');
  const mongoUrl = e.get('BLOCKVAULT_MONGO_URL');
  const metadataService = e.hostPort('BLOCKVAULT_METADATA_URL');
  const blobService = e.hostPort('BLOCKVAULT_BLOBSTORE_URL');
  const s3 = s3Options(e);
  const t = transforms(e);
  const roots = ioRoots(e);
  const reader = e.get('BLOCKVAULT_READER_URL') === 'discover' ? 'discover' : e.hostPort('BLOCKVAULT_READER_URL');
  const listen = e.hostPort('BLOCKVAULT_GRPC_LISTEN', flags.listen, '--listen');
  const metricsListen = e.hostPort('BLOCKVAULT_METRICS_LISTEN');
  const httpListen = e.hostPort('BLOCKVAULT_HTTP_LISTEN');
  const nbdListen = e.hostPort('BLOCKVAULT_NBD_LISTEN');
  const natsUrl = natsUrls(e, flags.natsUrl);
  const auth = natsAuthFrom(e);
  return {
    home,
    stores: {
      metadata: {
        ...(metadataService ? { service: metadataService } : {}),
        ...(mongoUrl
          ? { mongo: { url: mongoUrl, ...(e.get('BLOCKVAULT_MONGO_DATABASE') ? { database: e.get('BLOCKVAULT_MONGO_DATABASE') } : {}) } }
          : {}),
      },
      blobs: {
        ...(blobService ? { service: blobService } : {}),
        presigned: e.oneOf('BLOCKVAULT_BLOBSTORE_PRESIGNED', ['true', 'false'], 'true') === 'true',
        ...(s3 ? { s3 } : {}),
        retryMs: e.int('BLOCKVAULT_STORE_RETRY_MS', 30_000, 0, 3_600_000),
        deadlineMs: e.int('BLOCKVAULT_STORE_DEADLINE_MS', 120_000, 100, 3_600_000),
      },
      ...(t ? { transforms: t } : {}),
    },
    io: { ...(roots ? { roots } : {}), ...(reader ? { reader } : {}), rbdPython: e.get('BLOCKVAULT_RBD_PYTHON') ?? '/usr/bin/python3' },
    services: {
      ...(listen ? { listen } : {}),
      ...(metricsListen ? { metricsListen } : {}),
      ...(httpListen ? { httpListen } : {}),
      ...(nbdListen ? { nbdListen } : {}),
    },
    nats: { ...(natsUrl ? { url: natsUrl } : {}), ...(auth ? { auth } : {}), deployment: deploymentName(e) },
    queue: {
      ackWaitMs: e.int('BLOCKVAULT_JOB_ACK_WAIT_MS', 30_000, 1000, 3_600_000),
      lockTtlMs: e.int('BLOCKVAULT_LOCK_TTL_MS', 60_000, 1000, 3_600_000),
      outageRetryMs: e.int('BLOCKVAULT_JOB_OUTAGE_RETRY_MS', 120_000, 0, 3_600_000),
    },
    scheduler: { tickMs: e.int('BLOCKVAULT_SCHEDULER_TICK_MS', 30_000, 100, 86_400_000) },
    security: securityFrom(e),
    telemetry: { traceBlockRatio: traceRatio(e) },
    logging: { level: e.oneOf('BLOCKVAULT_LOG_LEVEL', LOG_LEVELS, 'info') },
  };
}

/** The configuration with every default and the given home: what an empty environment gives. */
export function defaultConfig(home: string): BlockvaultConfig {
  return loadConfig({ home }, {});
}
