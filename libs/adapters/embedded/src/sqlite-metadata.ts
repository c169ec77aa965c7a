/**
 * MetadataStore on SQLite (`node:sqlite`, no addon). WAL mode, synchronous=FULL: a committed
 * segment survives a crash. Several processes may share the file.
 *
 * Block maps are content-addressed segments shared between versions (see libs/core/README.md):
 * an incremental backup inserts only the segments its changed blocks fall in, plus one small
 * pointer row per segment.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  SessionExpiredError,
  UnavailableError,
  VersionInUseError,
  VersionNotFoundError,
  referencesAny,
  type BackupSession,
  type BackupStats,
  type BlobRecord,
  type BlobRef,
  type CommitFence,
  type MetadataStore,
  type RepositoryConfig,
  type SegmentEntry,
  type SegmentPointer,
  type Version,
  type VersionFilter,
  type VersionPatch,
  systemClock,
  type Clock,
} from '@blockvault/core';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
  uid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  snapshot_name TEXT NOT NULL,
  date INTEGER NOT NULL,
  size INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  valid INTEGER NOT NULL,
  protected INTEGER NOT NULL,
  tags TEXT NOT NULL,
  expire INTEGER,
  stats TEXT
);
CREATE INDEX IF NOT EXISTS versions_name ON versions (name, date);
CREATE TABLE IF NOT EXISTS version_segments (
  version_uid TEXT NOT NULL,
  seg_no INTEGER NOT NULL,
  seg_id BLOB NOT NULL,
  sparse_blocks INTEGER NOT NULL,
  PRIMARY KEY (version_uid, seg_no)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS version_segments_seg ON version_segments (seg_id);
CREATE TABLE IF NOT EXISTS segments (id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
  checksum BLOB PRIMARY KEY,
  uid TEXT NOT NULL,
  size INTEGER NOT NULL,
  valid INTEGER NOT NULL,
  created INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'live',
  touched INTEGER NOT NULL,
  unref_since INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_invalid ON blobs (valid) WHERE valid = 0;
CREATE TABLE IF NOT EXISTS orphans (uid TEXT PRIMARY KEY, since INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  version_uid TEXT NOT NULL,
  base_uid TEXT,
  started INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
`;

interface BlobRow {
  checksum: Uint8Array;
  uid: string;
  size: number;
  valid: number;
  created: number;
  state: 'live' | 'deleting';
  touched: number;
  unref_since: number | null;
}

interface SessionRow {
  id: string;
  version_uid: string;
  base_uid: string | null;
  started: number;
  expires: number;
}

interface VersionRow {
  uid: string;
  name: string;
  snapshot_name: string;
  date: number;
  size: number;
  size_bytes: number;
  valid: number;
  protected: number;
  tags: string;
  expire: number | null;
  stats: string | null;
}

function toVersion(row: VersionRow): Version {
  return {
    uid: row.uid,
    name: row.name,
    snapshotName: row.snapshot_name,
    date: new Date(row.date),
    size: row.size,
    sizeBytes: row.size_bytes,
    valid: row.valid === 1,
    protected: row.protected === 1,
    tags: JSON.parse(row.tags) as string[],
    expire: row.expire === null ? null : new Date(row.expire),
    stats: row.stats === null ? null : (JSON.parse(row.stats) as BackupStats),
  };
}

/** SQLite result codes (the low byte of an extended code) that waiting or freeing space cures. */
const TRANSIENT_SQLITE: ReadonlyMap<number, string> = new Map([
  [5, 'busy: another process holds its write lock'],
  [6, 'locked'],
  [10, 'failing to read or write (I/O error)'],
  [13, 'out of disk space'],
  [14, 'not openable'],
]);

/** node:sqlite's errors as the port's: busy, locked, I/O and full are UnavailableError. */
export function translateSqlite(err: unknown, path: string): unknown {
  const e = err as { code?: string; errcode?: number; message?: string };
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const reason = TRANSIENT_SQLITE.get(e.errcode & 0xff);
  return reason ? new UnavailableError(`the metadata database ${path} is ${reason} (${e.message}); try again`, { cause: err }) : err;
}

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: DatabaseSync;
  readonly #stmt: Record<string, StatementSync>;
  readonly #clock: Clock;

  /**
   * `clock` dates commits made without a fence. `busyTimeoutMs`: how long a write waits for
   * another process's write lock before failing as unavailable. @default the system clock, 30000
   */
  constructor(path: string, clock: Clock = systemClock, busyTimeoutMs = 30_000) {
    this.#clock = clock;
    try {
      this.#db = new DatabaseSync(path, { timeout: busyTimeoutMs });
      this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;');
      this.#db.exec(SCHEMA);
    } catch (err) {
      throw new UnavailableError(`cannot open the metadata database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const db = this.#db;
    this.#stmt = {
      getConfig: db.prepare('SELECT value FROM config WHERE key = ?'),
      putConfig: db.prepare('INSERT OR IGNORE INTO config (key, value) VALUES (?, ?)'),
      insertVersion: db.prepare(
        'INSERT INTO versions (uid, name, snapshot_name, date, size, size_bytes, valid, protected, tags, expire, stats) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      getVersion: db.prepare('SELECT * FROM versions WHERE uid = ?'),
      deleteVersion: db.prepare('DELETE FROM versions WHERE uid = ?'),
      deletePointers: db.prepare('DELETE FROM version_segments WHERE version_uid = ?'),
      getPointers: db.prepare('SELECT seg_no, seg_id, sparse_blocks FROM version_segments WHERE version_uid = ?'),
      putPointer: db.prepare('INSERT OR REPLACE INTO version_segments (version_uid, seg_no, seg_id, sparse_blocks) VALUES (?, ?, ?, ?)'),
      getSegment: db.prepare('SELECT data FROM segments WHERE id = ?'),
      putSegment: db.prepare('INSERT OR IGNORE INTO segments (id, data) VALUES (?, ?)'),
      getBlob: db.prepare('SELECT uid, size, valid FROM blobs WHERE checksum = ?'),
      addOrphan: db.prepare('INSERT OR IGNORE INTO orphans (uid, since) VALUES (?, ?)'),
      putBlob: db.prepare(
        "INSERT INTO blobs (checksum, uid, size, valid, created, state, touched) VALUES (?, ?, ?, 1, ?, 'live', ?) " +
          "ON CONFLICT (checksum) DO UPDATE SET uid = excluded.uid, size = excluded.size, valid = 1, created = excluded.created, state = 'live', touched = excluded.touched, unref_since = NULL",
      ),
      getBlobFull: db.prepare('SELECT uid, size, valid, state FROM blobs WHERE checksum = ?'),
      touchBlob: db.prepare("UPDATE blobs SET touched = ?, unref_since = NULL WHERE checksum = ? AND state = 'live'"),
      getSession: db.prepare('SELECT * FROM sessions WHERE id = ?'),
      pinned: db.prepare('SELECT id FROM sessions WHERE base_uid = ? AND expires > ?'),
      invalidChecksums: db.prepare('SELECT checksum FROM blobs WHERE valid = 0'),
      invalidateBlob: db.prepare('UPDATE blobs SET valid = 0 WHERE checksum = ? AND uid = ?'),
      segmentsContaining: db.prepare('SELECT id, data FROM segments WHERE instr(data, ?) > 0'),
      versionsUsingSegment: db.prepare('SELECT DISTINCT version_uid FROM version_segments WHERE seg_id = ?'),
      invalidateVersion: db.prepare('UPDATE versions SET valid = 0 WHERE uid = ?'),
    };
    // Every port method translates SQLite's errors (the ones that waiting can cure are
    // UnavailableError, which callers retry); domain errors pass through.
    for (const name of Object.getOwnPropertyNames(SqliteMetadataStore.prototype)) {
      const fn = (this as unknown as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof fn !== 'function' || fn.constructor.name !== 'AsyncFunction') continue;
      (this as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>).apply(this, args);
        } catch (err) {
          throw translateSqlite(err, path);
        }
      };
    }
  }

  /** Runs `fn` in one write transaction. */
  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  async getConfig(): Promise<RepositoryConfig | undefined> {
    const row = this.#stmt['getConfig']!.get('repository') as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as RepositoryConfig) : undefined;
  }

  async initConfig(config: RepositoryConfig): Promise<RepositoryConfig> {
    this.#stmt['putConfig']!.run('repository', JSON.stringify(config));
    return (await this.getConfig()) as RepositoryConfig;
  }

  async getSetting(key: string): Promise<unknown> {
    const row = this.#stmt['getConfig']!.get(`setting:${key}`) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as unknown) : undefined;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    this.#db.prepare('INSERT OR REPLACE INTO config (key, value) VALUES (?, ?)').run(`setting:${key}`, JSON.stringify(value));
  }

  async createVersion(v: Version): Promise<void> {
    if (this.#stmt['getVersion']!.get(v.uid)) throw new AlreadyExistsError(`version ${v.uid} already exists`);
    this.#stmt['insertVersion']!.run(
      v.uid,
      v.name,
      v.snapshotName,
      v.date.getTime(),
      v.size,
      v.sizeBytes,
      v.valid ? 1 : 0,
      v.protected ? 1 : 0,
      JSON.stringify(v.tags),
      v.expire ? v.expire.getTime() : null,
      v.stats ? JSON.stringify(v.stats) : null,
    );
  }

  async getVersion(uid: string): Promise<Version> {
    const row = this.#stmt['getVersion']!.get(uid) as VersionRow | undefined;
    if (!row) throw new VersionNotFoundError(uid);
    return toVersion(row);
  }

  async listVersions(filter: VersionFilter = {}): Promise<Version[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.name !== undefined) {
      where.push('name = ?');
      args.push(filter.name);
    }
    if (filter.snapshotName !== undefined) {
      where.push('snapshot_name = ?');
      args.push(filter.snapshotName);
    }
    if (filter.tag !== undefined) {
      where.push('EXISTS (SELECT 1 FROM json_each(versions.tags) WHERE value = ?)');
      args.push(filter.tag);
    }
    const sql = `SELECT * FROM versions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY date, uid`;
    return (this.#db.prepare(sql).all(...args) as unknown as VersionRow[]).map(toVersion);
  }

  async updateVersion(uid: string, patch: VersionPatch): Promise<void> {
    const sets: string[] = [];
    const args: (string | number | null)[] = [];
    const set = (column: string, value: string | number | null): void => {
      sets.push(`${column} = ?`);
      args.push(value);
    };
    if (patch.valid !== undefined) set('valid', patch.valid ? 1 : 0);
    if (patch.protected !== undefined) set('protected', patch.protected ? 1 : 0);
    if (patch.expire !== undefined) set('expire', patch.expire ? patch.expire.getTime() : null);
    if (patch.stats !== undefined) set('stats', JSON.stringify(patch.stats));
    if (patch.tags !== undefined) set('tags', JSON.stringify(patch.tags));
    if (sets.length === 0) return;
    const result = this.#db.prepare(`UPDATE versions SET ${sets.join(', ')} WHERE uid = ?`).run(...args, uid);
    if (result.changes === 0) throw new VersionNotFoundError(uid);
  }

  async deleteVersion(uid: string, now: Date): Promise<void> {
    this.#tx(() => {
      if (this.#stmt['pinned']!.get(uid, now.getTime())) throw new VersionInUseError(uid);
      const result = this.#stmt['deleteVersion']!.run(uid);
      if (result.changes === 0) throw new VersionNotFoundError(uid);
      this.#stmt['deletePointers']!.run(uid);
    });
  }

  async getVersionSegments(uid: string): Promise<Map<number, SegmentPointer>> {
    const rows = this.#stmt['getPointers']!.all(uid) as unknown as { seg_no: number; seg_id: Uint8Array; sparse_blocks: number }[];
    return new Map(rows.map((r) => [r.seg_no, { segId: Buffer.from(r.seg_id), sparseBlocks: r.sparse_blocks }]));
  }

  async getSegments(ids: readonly Buffer[]): Promise<Buffer[]> {
    return ids.map((id) => {
      const row = this.#stmt['getSegment']!.get(id) as { data: Uint8Array } | undefined;
      if (!row) throw new NotFoundError(`block-map segment ${id.toString('hex')} is missing from the metadata store`);
      return Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength);
    });
  }

  async commitSegments(
    versionUid: string,
    entries: readonly SegmentEntry[],
    newBlobs: readonly BlobRef[],
    fence?: CommitFence,
  ): Promise<void> {
    const now = fence ? fence.now.getTime() : this.#clock.now().getTime();
    this.#tx(() => {
      if (fence) {
        const session = this.#stmt['getSession']!.get(fence.sessionId) as SessionRow | undefined;
        if (!session || session.expires <= now) throw new SessionExpiredError(fence.sessionId);
      }
      for (const b of newBlobs) this.#recordNewBlob(b, now);
      for (const e of entries) {
        if (e.data) this.#stmt['putSegment']!.run(e.segId, e.data);
        this.#stmt['putPointer']!.run(versionUid, e.segNo, e.segId, e.sparseBlocks);
      }
    });
  }

  /**
   * A blob a backup stored. If a sound copy of the same content is already recorded (another
   * backup stored it meanwhile), that copy stays the one in use and the new one becomes an
   * orphan; a damaged or condemned copy is replaced, and becomes the orphan instead. Swapping
   * sound copies back and forth would orphan the copy in use (and cleanup would delete it).
   */
  #recordNewBlob(b: BlobRef, now: number): void {
    const row = this.#stmt['getBlobFull']!.get(b.checksum) as { uid: string; valid: number; state: string } | undefined;
    if (row && row.uid === b.uid) {
      if (row.state === 'deleting')
        throw new ConflictError(`blob ${b.uid} is being deleted by cleanup; continue the backup to store it again`);
      this.#stmt['touchBlob']!.run(now, b.checksum);
      return;
    }
    if (row && row.state === 'live' && row.valid === 1) {
      this.#stmt['touchBlob']!.run(now, b.checksum);
      this.#stmt['addOrphan']!.run(b.uid, now);
      return;
    }
    if (row) this.#stmt['addOrphan']!.run(row.uid, now);
    this.#stmt['putBlob']!.run(b.checksum, b.uid, b.size, now, now);
  }

  async lookupBlobs(checksums: readonly Buffer[]): Promise<(BlobRef | undefined)[]> {
    return checksums.map((checksum) => {
      const row = this.#stmt['getBlob']!.get(checksum) as { uid: string; size: number; valid: number } | undefined;
      return row ? { checksum, uid: row.uid, size: row.size, valid: row.valid === 1 } : undefined;
    });
  }

  async claimBlobs(checksums: readonly Buffer[], now: Date): Promise<(BlobRef | undefined)[]> {
    return this.#tx(() =>
      checksums.map((checksum) => {
        const row = this.#stmt['getBlobFull']!.get(checksum) as { uid: string; size: number; valid: number; state: string } | undefined;
        if (!row || row.state !== 'live') return undefined;
        if (row.valid === 1) this.#stmt['touchBlob']!.run(now.getTime(), checksum);
        return { checksum, uid: row.uid, size: row.size, valid: row.valid === 1 };
      }),
    );
  }

  async openSession(session: BackupSession): Promise<void> {
    this.#db
      .prepare('INSERT INTO sessions (id, version_uid, base_uid, started, expires) VALUES (?, ?, ?, ?, ?)')
      .run(session.id, session.versionUid, session.baseUid, session.started.getTime(), session.expires.getTime());
  }

  async renewSession(id: string, expires: Date, now: Date): Promise<void> {
    const result = this.#db
      .prepare('UPDATE sessions SET expires = ? WHERE id = ? AND expires > ?')
      .run(expires.getTime(), id, now.getTime());
    if (result.changes === 0) throw new SessionExpiredError(id);
  }

  async closeSession(id: string): Promise<void> {
    this.#db.prepare('DELETE FROM sessions WHERE id = ?').run(id);
  }

  async liveSessions(now: Date): Promise<BackupSession[]> {
    return this.#tx(() => {
      this.#db.prepare('DELETE FROM sessions WHERE expires <= ?').run(now.getTime());
      const rows = this.#db.prepare('SELECT * FROM sessions').all() as unknown as SessionRow[];
      return rows.map((r) => ({
        id: r.id,
        versionUid: r.version_uid,
        baseUid: r.base_uid,
        started: new Date(r.started),
        expires: new Date(r.expires),
      }));
    });
  }

  async referencedSegmentIds(): Promise<Buffer[]> {
    const rows = this.#db.prepare('SELECT DISTINCT seg_id FROM version_segments').all() as unknown as { seg_id: Uint8Array }[];
    return rows.map((r) => Buffer.from(r.seg_id));
  }

  async deleteUnreferencedSegments(): Promise<number> {
    return Number(this.#db.prepare('DELETE FROM segments WHERE id NOT IN (SELECT seg_id FROM version_segments)').run().changes);
  }

  async listBlobRecords(): Promise<BlobRecord[]> {
    const rows = this.#db.prepare('SELECT * FROM blobs').all() as unknown as BlobRow[];
    return rows.map((r) => ({
      checksum: Buffer.from(r.checksum),
      uid: r.uid,
      size: r.size,
      valid: r.valid === 1,
      state: r.state,
      created: new Date(r.created),
      touched: new Date(r.touched),
      unreferencedSince: r.unref_since === null ? null : new Date(r.unref_since),
    }));
  }

  async markUnreferenced(unreferenced: readonly Buffer[], referenced: readonly Buffer[], since: Date): Promise<void> {
    const set = this.#db.prepare('UPDATE blobs SET unref_since = ? WHERE checksum = ? AND unref_since IS NULL');
    const clear = this.#db.prepare('UPDATE blobs SET unref_since = NULL WHERE checksum = ? AND unref_since IS NOT NULL');
    this.#tx(() => {
      for (const c of unreferenced) set.run(since.getTime(), c);
      for (const c of referenced) clear.run(c);
    });
  }

  async condemnBlob(checksum: Buffer, uid: string, cutoff: Date): Promise<boolean> {
    const result = this.#db
      .prepare("UPDATE blobs SET state = 'deleting' WHERE checksum = ? AND uid = ? AND state = 'live' AND touched < ? AND created < ?")
      .run(checksum, uid, cutoff.getTime(), cutoff.getTime());
    return result.changes === 1;
  }

  async forgetBlob(checksum: Buffer, uid: string): Promise<void> {
    this.#db.prepare("DELETE FROM blobs WHERE checksum = ? AND uid = ? AND state = 'deleting'").run(checksum, uid);
  }

  async listOrphans(): Promise<{ uid: string; since: Date }[]> {
    const rows = this.#db.prepare('SELECT uid, since FROM orphans').all() as unknown as { uid: string; since: number }[];
    return rows.map((r) => ({ uid: r.uid, since: new Date(r.since) }));
  }

  async forgetOrphans(uids: readonly string[]): Promise<void> {
    const del = this.#db.prepare('DELETE FROM orphans WHERE uid = ?');
    this.#tx(() => {
      for (const u of uids) del.run(u);
    });
  }

  async listInvalidChecksums(): Promise<Buffer[]> {
    return (this.#stmt['invalidChecksums']!.all() as unknown as { checksum: Uint8Array }[]).map((r) => Buffer.from(r.checksum));
  }

  async invalidateBlob(checksum: Buffer, uid: string): Promise<string[]> {
    return this.#tx(() => {
      // A blob already replaced by a fresh copy (another uid) damages no version.
      if (this.#stmt['invalidateBlob']!.run(checksum, uid).changes === 0) return [];
      const versions = new Set<string>();
      const segments = this.#stmt['segmentsContaining']!.all(checksum) as unknown as { id: Uint8Array; data: Uint8Array }[];
      for (const seg of segments) {
        if (!referencesAny(Buffer.from(seg.data), checksum.length, [checksum])) continue;
        for (const row of this.#stmt['versionsUsingSegment']!.all(seg.id) as unknown as { version_uid: string }[])
          versions.add(row.version_uid);
      }
      for (const v of versions) this.#stmt['invalidateVersion']!.run(v);
      return [...versions].sort();
    });
  }

  /** Bytes the database file uses (pages in use), for the metadata-size benchmark. */
  sizeBytes(): number {
    const row = this.#db.prepare('SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()').get() as {
      bytes: number;
    };
    return row.bytes;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
