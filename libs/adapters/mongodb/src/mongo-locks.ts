/**
 * Locks as leases in MongoDB: one document per lock, taken by insert (or by replacing an expired
 * holder's document with a check-and-set on its token), renewed while held, deleted on release.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Collection, Db } from 'mongodb';
import {
  AlreadyExistsError,
  isStaleAttempt,
  renewingLease,
  VersionLockedError,
  type Clock,
  type Lease,
  type LockOptions,
  type Locks,
} from '@blockvault/core';
import { translate } from './errors.ts';

interface LockDoc {
  _id: string;
  owner: string;
  token: string;
  host: string;
  pid: number;
  expires: number;
}

const DEFAULT_TTL_MS = 60_000;

export interface MongoLocksOptions {
  readonly override?: boolean;
  readonly onOverride?: (name: string, holder: string) => void;
}

export class MongoLocks implements Locks {
  readonly #c: Collection<LockDoc>;
  readonly #clock: Clock;
  readonly #options: MongoLocksOptions;

  constructor(db: Db, clock: Clock, options: MongoLocksOptions = {}) {
    this.#c = db.collection('locks');
    this.#clock = clock;
    this.#options = options;
  }

  async acquire(name: string, options: LockOptions): Promise<Lease> {
    const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
    const token = randomBytes(8).toString('hex');
    const doc = (): LockDoc => ({
      _id: name,
      owner: options.owner,
      token,
      host: hostname(),
      pid: process.pid,
      expires: this.#clock.now().getTime() + ttl,
    });
    try {
      await translate(() => this.#c.insertOne(doc()));
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      const held = await translate(() => this.#c.findOne({ _id: name }));
      const holder = held ? `${held.owner} (pid ${held.pid} on ${held.host})` : 'another process';
      const now = this.#clock.now().getTime();
      if (held && held.expires > now && !isStaleAttempt(held.owner, held.expires, now, options, ttl)) {
        if (!this.#options.override) throw new VersionLockedError(name, holder);
        this.#options.onOverride?.(name, holder);
      }
      const r = await translate(() => this.#c.replaceOne({ _id: name, token: held?.token ?? '' }, doc()));
      if (r.matchedCount === 0) throw new VersionLockedError(name, 'another process that took it just now');
    }
    return renewingLease(
      name,
      ttl,
      async () =>
        (await translate(() => this.#c.updateOne({ _id: name, token }, { $set: { expires: this.#clock.now().getTime() + ttl } })))
          .matchedCount === 1,
      async () => {
        await translate(() => this.#c.deleteOne({ _id: name, token }));
      },
    );
  }
}
