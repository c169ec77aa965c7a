/**
 * Transport security from the environment (the variables are listed in variables.ts): TLS
 * material, the job API's tokens, this client's token, and the cluster token internal services
 * require. Files that hold secrets (TLS keys, tokens) are refused when group or others may read
 * them; errors name files, never secrets.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { InvalidArgumentError } from '@blockvault/core';
import type { NatsAuth } from '@blockvault/adapter-nats';
import {
  digestToken,
  PERMISSIONS,
  type ClientSecurity,
  type Permission,
  type ServerSecurity,
  type TlsSettings,
  type TokenGrant,
} from '@blockvault/grpc-edge';

export interface SecurityConfig {
  readonly tls?: TlsSettings;
  /** Tokens the job API accepts; undefined: it accepts any caller. */
  readonly apiTokens?: readonly TokenGrant[];
  /** The token this client sends to the job API. */
  readonly apiToken?: string;
  /** The token internal services require and their clients send. */
  readonly clusterToken?: string;
}

/**
 * A file that holds a secret: refused when others may read it, or its group when the owner is not
 * root; errors name the file, never its content. A root-owned file may be group-readable (at most
 * 640, PostgreSQL's rule for key files): that is how Kubernetes mounts a Secret for a non-root pod
 * (owner root, group the pod's fsGroup).
 */
export function readSecret(variable: string, path: string): string {
  let stat: { mode: number; uid: number };
  try {
    stat = statSync(path);
  } catch (err) {
    throw new InvalidArgumentError(`${variable} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const { mode, uid } = stat;
  if ((mode & (uid === 0 ? 0o037 : 0o077)) !== 0)
    throw new InvalidArgumentError(
      `${variable} ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}` +
        (uid === 0 ? ' (640 at most for a file root owns)' : ''),
    );
  return readFileSync(path, 'utf8');
}

function readPublic(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidArgumentError(`${variable} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** Parses a tokens file: `NAME PERMISSIONS SHA256-HEX` per line, `#` comments. */
export function parseTokens(text: string, where: string): TokenGrant[] {
  const grants: TokenGrant[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name, perms, hash, ...rest] = line.split(/\s+/);
    const permissions = (perms ?? '').split(',');
    if (
      !name ||
      !/^[A-Za-z0-9_.@-]{1,64}$/.test(name) ||
      !hash ||
      !/^[0-9a-f]{64}$/.test(hash) ||
      rest.length > 0 ||
      !permissions.every((p) => (PERMISSIONS as readonly string[]).includes(p))
    ) {
      throw new InvalidArgumentError(
        `${where} line ${i + 1}: expected \`NAME PERMISSIONS SHA256-HEX\` with permissions from ${PERMISSIONS.join(',')}`,
      );
    }
    grants.push({ name, sha256: Buffer.from(hash, 'hex'), permissions: new Set(permissions as Permission[]) });
  }
  return grants;
}

/** Reads listed environment variables (config/load.ts); empty counts as unset. */
export interface EnvReader {
  get(name: string): string | undefined;
}

export function securityFrom(env: EnvReader): SecurityConfig {
  const get = (key: string): string | undefined => env.get(key);
  const [caPath, certPath, keyPath] = [get('BLOCKVAULT_TLS_CA'), get('BLOCKVAULT_TLS_CERT'), get('BLOCKVAULT_TLS_KEY')];
  const clientAuth = get('BLOCKVAULT_TLS_CLIENT_AUTH') ?? 'none';
  if (clientAuth !== 'none' && clientAuth !== 'require')
    throw new InvalidArgumentError(`BLOCKVAULT_TLS_CLIENT_AUTH must be require or none, got ${JSON.stringify(clientAuth)}`);
  if ((certPath === undefined) !== (keyPath === undefined))
    throw new InvalidArgumentError('BLOCKVAULT_TLS_CERT and BLOCKVAULT_TLS_KEY go together');
  if ((certPath || clientAuth === 'require') && !caPath)
    throw new InvalidArgumentError("TLS needs BLOCKVAULT_TLS_CA (the CA that signs the cluster's certificates)");
  const tls: TlsSettings | undefined = caPath
    ? {
        ca: readPublic('BLOCKVAULT_TLS_CA', caPath),
        ...(certPath && keyPath
          ? { cert: readPublic('BLOCKVAULT_TLS_CERT', certPath), key: Buffer.from(readSecret('BLOCKVAULT_TLS_KEY', keyPath)) }
          : {}),
        requireClientCert: clientAuth === 'require',
      }
    : undefined;
  const tokensPath = get('BLOCKVAULT_TOKENS_FILE');
  const tokenPath = get('BLOCKVAULT_TOKEN_FILE');
  const clusterPath = get('BLOCKVAULT_CLUSTER_TOKEN_FILE');
  const apiToken = tokenPath ? readSecret('BLOCKVAULT_TOKEN_FILE', tokenPath).trim() : undefined;
  const clusterToken = clusterPath ? readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', clusterPath).trim() : undefined;
  if (apiToken === '' || clusterToken === '') throw new InvalidArgumentError('a token file is empty');
  return {
    ...(tls ? { tls } : {}),
    ...(tokensPath ? { apiTokens: parseTokens(readPublic('BLOCKVAULT_TOKENS_FILE', tokensPath).toString('utf8'), tokensPath) } : {}),
    ...(apiToken ? { apiToken } : {}),
    ...(clusterToken ? { clusterToken } : {}),
  };
}

/** NATS credentials from the environment; undefined when none are configured. */
export function natsAuthFrom(env: EnvReader): NatsAuth | undefined {
  const get = (key: string): string | undefined => env.get(key);
  const creds = get('BLOCKVAULT_NATS_CREDS');
  const user = get('BLOCKVAULT_NATS_USER');
  const passwordFile = get('BLOCKVAULT_NATS_PASSWORD_FILE');
  const tokenFile = get('BLOCKVAULT_NATS_TOKEN_FILE');
  if ([creds, user, tokenFile].filter(Boolean).length > 1)
    throw new InvalidArgumentError('give one of BLOCKVAULT_NATS_CREDS, BLOCKVAULT_NATS_USER or BLOCKVAULT_NATS_TOKEN_FILE');
  if (passwordFile && !user) throw new InvalidArgumentError('BLOCKVAULT_NATS_PASSWORD_FILE needs BLOCKVAULT_NATS_USER');
  if (creds) return { creds: new TextEncoder().encode(readSecret('BLOCKVAULT_NATS_CREDS', creds)) };
  if (user) return { user, pass: passwordFile ? readSecret('BLOCKVAULT_NATS_PASSWORD_FILE', passwordFile).trim() : '' };
  if (tokenFile) return { token: readSecret('BLOCKVAULT_NATS_TOKEN_FILE', tokenFile).trim() };
  return undefined;
}

/** What the job API's server enforces. */
export function jobApiSecurity(s: SecurityConfig | undefined): ServerSecurity | undefined {
  if (!s?.tls && !s?.apiTokens) return undefined;
  return { ...(s.tls ? { tls: s.tls } : {}), ...(s.apiTokens ? { tokens: s.apiTokens } : {}) };
}

/** What an internal service's server enforces: TLS and the cluster token. */
export function internalServerSecurity(s: SecurityConfig | undefined): ServerSecurity | undefined {
  if (!s?.tls && !s?.clusterToken) return undefined;
  return {
    ...(s.tls ? { tls: s.tls } : {}),
    ...(s.clusterToken
      ? { tokens: [{ name: 'cluster', sha256: digestToken(s.clusterToken), permissions: new Set<Permission>(['admin']) }] }
      : {}),
  };
}

/** How a worker or scheduler calls the internal services. */
export function internalClientSecurity(s: SecurityConfig | undefined): ClientSecurity | undefined {
  if (!s?.tls && !s?.clusterToken) return undefined;
  return { ...(s.tls ? { tls: s.tls } : {}), ...(s.clusterToken ? { token: s.clusterToken } : {}) };
}

/** How the CLI calls the job API. */
export function apiClientSecurity(s: SecurityConfig | undefined): ClientSecurity | undefined {
  if (!s?.tls && !s?.apiToken) return undefined;
  return { ...(s.tls ? { tls: s.tls } : {}), ...(s.apiToken ? { token: s.apiToken } : {}) };
}

/** A new random token and the tokens-file line that grants it `permissions`. */
export function newToken(name: string, permissions: readonly string[]): { token: string; line: string } {
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name))
    throw new InvalidArgumentError(`token name ${JSON.stringify(name)} must be 1-64 of A-Z a-z 0-9 _ . @ -`);
  const bad = permissions.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (permissions.length === 0 || bad.length > 0) throw new InvalidArgumentError(`permissions must be from ${PERMISSIONS.join(',')}`);
  const token = `bvt_${randomBytes(32).toString('base64url')}`;
  return { token, line: `${name} ${permissions.join(',')} ${digestToken(token).toString('hex')}` };
}
