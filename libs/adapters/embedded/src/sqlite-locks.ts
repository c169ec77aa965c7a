/**
 * Locks as leases in SQLite, shared by every process using the repository. A holder renews its
 * lease while it works; a lease that is not renewed expires, and a lease whose holder process on
 * this host is gone is taken over at once, so a killed backup never strands a volume.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { isStaleAttempt, renewingLease, VersionLockedError, type Clock, type Lease, type LockOptions, type Locks } from '@blockvault/core';

const DEFAULT_TTL_MS = 60_000;

interface LockRow {
  owner: string;
  token: string;
  host: string;
  pid: number;
  expires: number;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SqliteLocksOptions {
  /**
   * Take locks even when another live holder has them (`--override-lock`), calling `onOverride`
   * so the override is logged. For clearing up after an operator has checked the holder is gone.
   * @default false
   */
  readonly override?: boolean;
  readonly onOverride?: (name: string, holder: string) => void;
}

export class SqliteLocks implements Locks {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #host = hostname();
  readonly #options: SqliteLocksOptions;

  constructor(path: string, clock: Clock, options: SqliteLocksOptions = {}) {
    this.#options = options;
    this.#db = new DatabaseSync(path, { timeout: 30_000 });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, token TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, expires INTEGER NOT NULL)',
    );
    this.#clock = clock;
  }

  async acquire(name: string, options: LockOptions): Promise<Lease> {
    const ttl = options.ttlMs ?? DEFAULT_TTL_MS;
    const token = randomBytes(8).toString('hex');
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const now = this.#clock.now().getTime();
      const held = this.#db.prepare('SELECT owner, token, host, pid, expires FROM locks WHERE name = ?').get(name) as LockRow | undefined;
      const gone = held !== undefined && held.host === this.#host && !processAlive(held.pid);
      if (held && held.expires > now && !gone && !isStaleAttempt(held.owner, held.expires, now, options, ttl)) {
        const holder = `${held.owner} (pid ${held.pid} on ${held.host})`;
        if (!this.#options.override) throw new VersionLockedError(name, holder);
        this.#options.onOverride?.(name, holder);
      }
      this.#db
        .prepare('INSERT OR REPLACE INTO locks (name, owner, token, host, pid, expires) VALUES (?, ?, ?, ?, ?, ?)')
        .run(name, options.owner, token, this.#host, process.pid, now + ttl);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return renewingLease(
      name,
      ttl,
      () =>
        this.#db.isOpen &&
        this.#db.prepare('UPDATE locks SET expires = ? WHERE name = ? AND token = ?').run(this.#clock.now().getTime() + ttl, name, token)
          .changes === 1,
      async () => {
        if (this.#db.isOpen) this.#db.prepare('DELETE FROM locks WHERE name = ? AND token = ?').run(name, token);
      },
    );
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
