/**
 * Locks as leases in a NATS KV bucket: one key per lock (`:` becomes `.`), taken with a create
 * that fails if the key exists, or by replacing an expired holder's entry with a check-and-set on
 * its revision; renewed with check-and-set updates; released with a check-and-set delete.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { renewingLease, VersionLockedError, type Clock, type Lease, type LockOptions, type Locks } from '@blockvault/core';

export const LOCKS_BUCKET = 'blockvault_locks';
const DEFAULT_TTL_MS = 60_000;

interface Holder {
  owner: string;
  token: string;
  host: string;
  pid: number;
  expires: number;
}

export interface NatsLocksOptions {
  /** Lease length when the caller gives none: a dead holder's lock frees after this long. @default 60000 */
  readonly ttlMs?: number;
  readonly override?: boolean;
  readonly onOverride?: (name: string, holder: string) => void;
}

function keyOf(name: string): string {
  return name.replace(/:/g, '.');
}

export class NatsLocks implements Locks {
  readonly #kv: KV;
  readonly #clock: Clock;
  readonly #options: NatsLocksOptions;

  private constructor(kv: KV, clock: Clock, options: NatsLocksOptions) {
    this.#kv = kv;
    this.#clock = clock;
    this.#options = options;
  }

  static async open(nc: NatsConnection, clock: Clock, options: NatsLocksOptions = {}): Promise<NatsLocks> {
    return new NatsLocks(await new Kvm(nc).create(LOCKS_BUCKET, { history: 1 }), clock, options);
  }

  async acquire(name: string, options: LockOptions): Promise<Lease> {
    const ttl = options.ttlMs ?? this.#options.ttlMs ?? DEFAULT_TTL_MS;
    const key = keyOf(name);
    const token = randomBytes(8).toString('hex');
    const value = (): string => JSON.stringify({ owner: options.owner, token, host: hostname(), pid: process.pid, expires: this.#clock.now().getTime() + ttl } satisfies Holder);
    let revision: number;
    try {
      revision = await this.#kv.create(key, value());
    } catch {
      const entry = await this.#kv.get(key);
      if (entry && entry.operation === 'PUT') {
        const held = entry.json<Holder>();
        const holder = `${held.owner} (pid ${held.pid} on ${held.host})`;
        if (held.expires > this.#clock.now().getTime()) {
          if (!this.#options.override) throw new VersionLockedError(name, holder);
          this.#options.onOverride?.(name, holder);
        }
      }
      try {
        revision = entry ? await this.#kv.update(key, value(), entry.revision) : await this.#kv.create(key, value());
      } catch {
        throw new VersionLockedError(name, 'another process that took it just now');
      }
    }
    let current = revision;
    return renewingLease(
      name,
      ttl,
      async () => (current = await this.#kv.update(key, value(), current)),
      async () => {
        await this.#kv.delete(key, { previousSeq: current }).catch(() => undefined);
      },
    );
  }
}
