/**
 * Who may call a server, and how clients prove it: TLS (optionally mutual) on every channel,
 * bearer tokens checked per call. The job API takes tokens with permissions (read, submit,
 * admin); the internal services (reader, blob-store, metadata) take the cluster token. Health
 * checking stays open for probes. Tokens are compared by SHA-256 digest in constant time and
 * never appear in messages.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export const PERMISSIONS = ['read', 'submit', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** PEM material for this side of a channel. */
export interface TlsSettings {
  /** Certificate authorities that sign the peers' certificates. */
  readonly ca: Buffer;
  /** This side's certificate chain and key (a server's; a client's for mutual TLS). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Servers: refuse clients without a certificate signed by `ca` (mutual TLS). */
  readonly requireClientCert?: boolean;
}

/** A token a server accepts: its name (for logs), the SHA-256 of its secret, what it may do. */
export interface TokenGrant {
  readonly name: string;
  readonly sha256: Buffer;
  readonly permissions: ReadonlySet<Permission>;
}

export interface ServerSecurity {
  readonly tls?: TlsSettings;
  /** Tokens accepted; undefined: calls are not authenticated by token. */
  readonly tokens?: readonly TokenGrant[];
  /** The permission each method needs (by its name, e.g. `SubmitJob`); methods not listed need `admin`. */
  readonly permissions?: Readonly<Record<string, Permission>>;
  /** Refusals are reported here (never with the token). @default stderr */
  readonly onDenied?: (event: { method: string; peer: string; reason: string }) => void;
}

export interface ClientSecurity {
  readonly tls?: TlsSettings;
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
}

export function digestToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function serverCredentials(tls: TlsSettings | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (!tls.cert || !tls.key) throw new Error('a TLS server needs a certificate and a key');
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], tls.requireClientCert ?? false);
}

export function channelCredentials(tls: TlsSettings | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
}

/** A client interceptor that adds the bearer token to every call. */
export function tokenInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

const callers = new WeakMap<object, TokenGrant>();

/** The grant a call was authorized with (undefined when the server takes no tokens). */
export function grantOf(call: object): TokenGrant | undefined {
  return callers.get(call);
}

/** Whether a grant (or an unauthenticated server: undefined) allows `permission`. */
export function allows(grant: TokenGrant | undefined, permission: Permission, tokensRequired: boolean): boolean {
  if (!tokensRequired) return true;
  if (!grant) return false;
  return grant.permissions.has('admin') || grant.permissions.has(permission) || (permission === 'read' && grant.permissions.has('submit'));
}

/**
 * The grant of an `Authorization: Bearer TOKEN` value (gRPC metadata or an HTTP header), compared
 * by digest in constant time; 'missing' without a bearer token, 'unknown' for a token no grant has.
 */
export function bearerGrant(tokens: readonly TokenGrant[], header: unknown): TokenGrant | 'missing' | 'unknown' {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return 'missing';
  const digest = digestToken(header.slice('Bearer '.length));
  return tokens.find((t) => timingSafeEqual(t.sha256, digest)) ?? 'unknown';
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & { metadata: grpc.Metadata; getPeer(): string };

/**
 * Wraps a service implementation so that each call is checked before its handler runs:
 * UNAUTHENTICATED without a known token, PERMISSION_DENIED without the method's permission.
 */
export function guard<S extends grpc.UntypedServiceImplementation>(
  definition: grpc.ServiceDefinition,
  impl: S,
  security: ServerSecurity | undefined,
): S {
  const tokens = security?.tokens;
  if (!tokens) return impl;
  const report = security.onDenied ?? ((e) => process.stderr.write(`blockvault: refused ${e.method} from ${e.peer}: ${e.reason}\n`));
  const guarded: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(impl)) {
    const def = definition[name];
    const method = def?.path.split('/').pop() ?? name;
    const needed = security.permissions?.[method] ?? 'admin';
    guarded[name] = (call: AnyCall, callback?: (err: grpc.ServiceError) => void) => {
      const grant = bearerGrant(tokens, call.metadata.get('authorization')[0]);
      let denied: { code: grpc.status; reason: string } | undefined;
      if (grant === 'missing') denied = { code: grpc.status.UNAUTHENTICATED, reason: 'no bearer token' };
      else if (grant === 'unknown') denied = { code: grpc.status.UNAUTHENTICATED, reason: 'unknown token' };
      else if (!allows(grant, needed, true))
        denied = { code: grpc.status.PERMISSION_DENIED, reason: `token ${grant.name} lacks the ${needed} permission` };
      if (denied) {
        report({ method, peer: call.getPeer(), reason: denied.reason });
        const err = Object.assign(new Error(denied.reason), { code: denied.code, details: denied.reason, metadata: new grpc.Metadata() });
        if (def?.responseStream) (call as unknown as { emit(e: string, x: unknown): void }).emit('error', err);
        else callback?.(err);
        return;
      }
      callers.set(call, grant as TokenGrant);
      (handler as (c: unknown, cb?: unknown) => void)(call, callback);
    };
  }
  return guarded as S;
}
