import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { AuthenticationError, UnavailableError } from '@blockvault/core';

export interface NatsOptions {
  /** nats://host:port (several: comma-separated). */
  readonly url: string;
  /** Client name the server shows. @default 'blockvault' */
  readonly name?: string;
  /** Credentials, when the server requires them (never logged). */
  readonly auth?: NatsAuth;
}

/** One of: user and password, a token, or a creds file's contents (JWT + NKey seed). */
export interface NatsAuth {
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly creds?: Uint8Array;
}

export async function openNats(options: NatsOptions): Promise<NatsConnection> {
  try {
    const a = options.auth;
    return await connect({
      servers: options.url.split(','),
      name: options.name ?? 'blockvault',
      maxReconnectAttempts: -1,
      ...(a?.user !== undefined ? { user: a.user, pass: a.pass ?? '' } : {}),
      ...(a?.token !== undefined ? { token: a.token } : {}),
      ...(a?.creds ? { authenticator: credsAuthenticator(a.creds) } : {}),
    });
  } catch (err) {
    const message = (err as Error).message;
    if (/authorization|authentication/i.test(message))
      throw new AuthenticationError(`NATS refused the credentials: ${message}`, { cause: err });
    throw new UnavailableError(`cannot connect to NATS at ${options.url}: ${message}`, { cause: err });
  }
}
