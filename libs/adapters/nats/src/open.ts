import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AuthenticationError, UnavailableError } from '@blockvault/core';

export interface NatsOptions {
  /** nats://host:port (several: comma-separated). */
  readonly url: string;
  /** Client name the server shows. @default 'blockvault' */
  readonly name?: string;
}

export async function openNats(options: NatsOptions): Promise<NatsConnection> {
  try {
    return await connect({ servers: options.url.split(','), name: options.name ?? 'blockvault', maxReconnectAttempts: -1 });
  } catch (err) {
    const message = (err as Error).message;
    if (/authorization|authentication/i.test(message)) throw new AuthenticationError(`NATS refused the credentials: ${message}`, { cause: err });
    throw new UnavailableError(`cannot connect to NATS at ${options.url}: ${message}`, { cause: err });
  }
}
