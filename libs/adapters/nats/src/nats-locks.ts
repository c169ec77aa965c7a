/**
 * Locks as leases in a NATS KV bucket: one key per lock (`:` becomes `.`), taken with a create
 * that fails if the key exists, or by replacing an expired holder's entry with a check-and-set on
 * its revision; renewed with check-and-set updates; released with a check-and-set delete.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import {
  isStaleAttempt,
  renewingLease,
  UnavailableError,
  VersionLockedError,
  type Clock,
  type Lease,
  type LockOptions,
  type Locks,
} from '@blockvault/core';

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
  /** Told when a release could not reach NATS (the lease then expires by itself). */
  readonly onReleaseFailed?: (name: string, err: Error) => void;
}

/** A check-and-set that lost: the key exists, or changed since it was read. */
function isCasConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** NATS out of reach is an outage, never somebody else's lock. */
function unavailable(what: string, err: unknown): UnavailableError {
  return new UnavailableError(`NATS: cannot ${what}: ${(err as Error).message}`, { cause: err });
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
    try {
      return new NatsLocks(await new Kvm(nc).create(LOCKS_BUCKET, { history: 1 }), clock, options);
    } catch (err) {
      throw unavailable(`open the KV bucket ${LOCKS_BUCKET}`, err);
    }
  }

  async acquire(name: string, options: LockOptions): Promise<Lease> {
    const ttl = options.ttlMs ?? this.#options.ttlMs ?? DEFAULT_TTL_MS;
    const key = keyOf(name);
    const token = randomBytes(8).toString('hex');
    const value = (): string =>
      JSON.stringify({
        owner: options.owner,
        token,
        host: hostname(),
        pid: process.pid,
        expires: this.#clock.now().getTime() + ttl,
      } satisfies Holder);
    let revision: number;
    try {
      revision = await this.#kv.create(key, value());
    } catch (err) {
      if (!isCasConflict(err)) throw unavailable(`take lock ${name}`, err);
      const entry = await this.#kv.get(key).catch((e: unknown) => {
        throw unavailable(`read lock ${name}`, e);
      });
      if (entry && entry.operation === 'PUT') {
        const held = entry.json<Holder>();
        const holder = `${held.owner} (pid ${held.pid} on ${held.host})`;
        const now = this.#clock.now().getTime();
        if (held.expires > now && !isStaleAttempt(held.owner, held.expires, now, options, ttl)) {
          if (!this.#options.override) throw new VersionLockedError(name, holder);
          this.#options.onOverride?.(name, holder);
        }
      }
      try {
        revision = entry ? await this.#kv.update(key, value(), entry.revision) : await this.#kv.create(key, value());
      } catch (e) {
        if (!isCasConflict(e)) throw unavailable(`take lock ${name}`, e);
        throw new VersionLockedError(name, 'another process that took it just now');
      }
    }
    let current = revision;
    return renewingLease(
      name,
      ttl,
      async () => {
        try {
          current = await this.#kv.update(key, value(), current);
        } catch (err) {
          if (isCasConflict(err)) throw new VersionLockedError(name, 'another holder, after this lease expired');
          throw unavailable(`renew lock ${name}`, err);
        }
      },
      async () => {
        // A lost check-and-set means the lease expired and another holder has the key: not ours to
        // delete. Any other failure (NATS out of reach) leaves the lease to expire by itself, which
        // is what a release that cannot be delivered must do: it never fails the work it ends.
        await this.#kv.delete(key, { previousSeq: current }).catch((err: unknown) => {
          if (!isCasConflict(err)) this.#options.onReleaseFailed?.(name, err as Error);
        });
      },
    );
  }
}
