/**
 * MetadataStore on MongoDB 6/7 and FerretDB 1.24 (the MongoDB wire protocol on SQLite).
 *
 * Both must work, so the design uses only what both do well (../shared/reference/INFRA.md):
 * - every hot lookup is an exact `_id` match (FerretDB pushes down nothing else): blobs by
 *   checksum, segments by id, a version's pointers in chunk documents whose ids are computed;
 * - no transactions: writes go children first, root last, each one idempotent; the few
 *   check-and-set transitions are single-document updates with the expected state in the filter.
 *
 * Collections: config, versions, pointers (`<uid>/<chunk>`, 256 segment pointers as flat fields
 * `s<segNo>`/`n<segNo>`), segments, blobs (by hex checksum), invalid (hex checksums of damaged
 * blobs), orphans, sessions.
 */
import { Binary, MongoServerError, type Collection, type Db, type Document } from 'mongodb';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  SessionExpiredError,
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
import { translate } from './errors.ts';

const POINTERS_PER_CHUNK = 256;
/**
 * Without transactions a commit checks its session, then writes. Cleanup treats a session as
 * expired only this long after its expiry, and a commit refuses a session this close to expiry,
 * so no commit that passed the check can land after cleanup stopped sparing its session.
 */
export const FENCE_MARGIN_MS = 30_000;
const PARALLEL = 32;

interface VersionDoc {
  _id: string;
  name: string;
  snapshotName: string;
  date: number;
  size: number;
  sizeBytes: number;
  valid: boolean;
  protected: boolean;
  tags: string[];
  expire: number | null;
  stats: BackupStats | null;
}

interface BlobDoc {
  _id: string;
  uid: string;
  size: number;
  valid: boolean;
  created: number;
  state: 'live' | 'deleting';
  touched: number;
  unrefSince: number | null;
}

interface SessionDoc {
  _id: string;
  versionUid: string;
  baseUid: string | null;
  started: number;
  expires: number;
}

function buf(b: Binary | Buffer | Uint8Array): Buffer {
  if (b instanceof Binary) return Buffer.from(b.buffer.buffer, b.buffer.byteOffset, b.position);
  return Buffer.isBuffer(b) ? b : Buffer.from(b);
}

function toVersion(d: VersionDoc): Version {
  return {
    uid: d._id,
    name: d.name,
    snapshotName: d.snapshotName,
    date: new Date(d.date),
    size: d.size,
    sizeBytes: d.sizeBytes,
    valid: d.valid,
    protected: d.protected,
    tags: d.tags,
    expire: d.expire === null ? null : new Date(d.expire),
    stats: d.stats,
  };
}

/** Runs `fn` over `items`, at most PARALLEL at a time, results in order. */
async function parallel<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return out;
}

export class MongoMetadataStore implements MetadataStore {
  readonly #db: Db;
  readonly #close: () => Promise<void>;
  readonly #c: {
    config: Collection<{ _id: string; value: unknown }>;
    versions: Collection<VersionDoc>;
    pointers: Collection<Document>;
    segments: Collection<{ _id: string; d: Binary; touched: number }>;
    blobs: Collection<BlobDoc>;
    invalid: Collection<{ _id: string }>;
    orphans: Collection<{ _id: string; since: number }>;
    sessions: Collection<SessionDoc>;
  };
  #blocksPerSegment: number | undefined;

  readonly #clock: Clock;

  /** `clock` dates commits made without a fence and the cutoff of segment cleanup. @default the system clock */
  constructor(db: Db, close: () => Promise<void>, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
    this.#close = close;
    this.#c = {
      config: db.collection('config'),
      versions: db.collection('versions'),
      pointers: db.collection('pointers'),
      segments: db.collection('segments'),
      blobs: db.collection('blobs'),
      invalid: db.collection('invalid'),
      orphans: db.collection('orphans'),
      sessions: db.collection('sessions'),
    };
  }

  /** Creates the indexes (MongoDB uses them; FerretDB accepts them). */
  async init(): Promise<void> {
    await translate(async () => {
      await this.#c.versions.createIndex({ name: 1, date: 1 });
      await this.#c.pointers.createIndex({ v: 1 });
      await this.#c.sessions.createIndex({ baseUid: 1 });
    });
  }

  async getConfig(): Promise<RepositoryConfig | undefined> {
    const doc = await translate(() => this.#c.config.findOne({ _id: 'repository' }));
    const config = doc?.value as RepositoryConfig | undefined;
    if (config) this.#blocksPerSegment = config.blocksPerSegment;
    return config;
  }

  async initConfig(config: RepositoryConfig): Promise<RepositoryConfig> {
    await translate(async () => {
      try {
        await this.#c.config.insertOne({ _id: 'repository', value: config });
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
      }
    });
    return (await this.getConfig()) as RepositoryConfig;
  }

  async getSetting(key: string): Promise<unknown> {
    return (await translate(() => this.#c.config.findOne({ _id: `setting:${key}` })))?.value;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await translate(() => this.#c.config.replaceOne({ _id: `setting:${key}` }, { value }, { upsert: true }));
  }

  async createVersion(v: Version): Promise<void> {
    const doc: VersionDoc = {
      _id: v.uid,
      name: v.name,
      snapshotName: v.snapshotName,
      date: v.date.getTime(),
      size: v.size,
      sizeBytes: v.sizeBytes,
      valid: v.valid,
      protected: v.protected,
      tags: [...v.tags],
      expire: v.expire ? v.expire.getTime() : null,
      stats: v.stats,
    };
    try {
      await translate(() => this.#c.versions.insertOne(doc));
    } catch (err) {
      if (err instanceof AlreadyExistsError) throw new AlreadyExistsError(`version ${v.uid} already exists`);
      throw err;
    }
  }

  async getVersion(uid: string): Promise<Version> {
    const doc = await translate(() => this.#c.versions.findOne({ _id: uid }));
    if (!doc) throw new VersionNotFoundError(uid);
    return toVersion(doc);
  }

  async listVersions(filter: VersionFilter = {}): Promise<Version[]> {
    const q: Document = {};
    if (filter.name !== undefined) q['name'] = filter.name;
    if (filter.snapshotName !== undefined) q['snapshotName'] = filter.snapshotName;
    if (filter.tag !== undefined) q['tags'] = filter.tag;
    const docs = await translate(() => this.#c.versions.find(q).toArray());
    return docs.map(toVersion).sort((a, b) => a.date.getTime() - b.date.getTime() || a.uid.localeCompare(b.uid));
  }

  async updateVersion(uid: string, patch: VersionPatch): Promise<void> {
    const set: Document = {};
    if (patch.valid !== undefined) set['valid'] = patch.valid;
    if (patch.protected !== undefined) set['protected'] = patch.protected;
    if (patch.expire !== undefined) set['expire'] = patch.expire ? patch.expire.getTime() : null;
    if (patch.stats !== undefined) set['stats'] = patch.stats;
    if (patch.tags !== undefined) set['tags'] = [...patch.tags];
    if (Object.keys(set).length === 0) return;
    const r = await translate(() => this.#c.versions.updateOne({ _id: uid }, { $set: set }));
    if (r.matchedCount === 0) throw new VersionNotFoundError(uid);
  }

  async deleteVersion(uid: string, now: Date): Promise<void> {
    const pins = await translate(() => this.#c.sessions.find({ baseUid: uid }).toArray());
    if (pins.some((s) => s.expires + FENCE_MARGIN_MS > now.getTime())) throw new VersionInUseError(uid);
    const r = await translate(() => this.#c.versions.deleteOne({ _id: uid }));
    if (r.deletedCount === 0) throw new VersionNotFoundError(uid);
    await translate(() => this.#c.pointers.deleteMany({ v: uid }));
  }

  async #chunkIds(uid: string): Promise<string[]> {
    const v = await this.getVersion(uid);
    const bps = this.#blocksPerSegment ?? (await this.getConfig())?.blocksPerSegment ?? 256;
    const chunks = Math.ceil(Math.ceil(v.size / bps) / POINTERS_PER_CHUNK);
    return Array.from({ length: chunks }, (_, i) => `${uid}/${i}`);
  }

  async getVersionSegments(uid: string): Promise<Map<number, SegmentPointer>> {
    const ids = await this.#chunkIds(uid).catch((err: unknown) => {
      if (err instanceof VersionNotFoundError) return [] as string[];
      throw err;
    });
    const docs = await parallel(ids, (id) => translate(() => this.#c.pointers.findOne({ _id: id as unknown as Document['_id'] })));
    const out = new Map<number, SegmentPointer>();
    for (const doc of docs) {
      if (!doc) continue;
      for (const [k, value] of Object.entries(doc)) {
        if (k[0] !== 's' || !/^s\d+$/.test(k)) continue;
        const segNo = Number(k.slice(1));
        out.set(segNo, { segId: buf(value as Binary), sparseBlocks: doc[`n${segNo}`] as number });
      }
    }
    return out;
  }

  async getSegments(ids: readonly Buffer[]): Promise<Buffer[]> {
    return parallel(ids, async (id) => {
      const doc = await translate(() => this.#c.segments.findOne({ _id: id.toString('hex') }));
      if (!doc) throw new NotFoundError(`block-map segment ${id.toString('hex')} is missing from the metadata store`);
      return buf(doc.d);
    });
  }

  async commitSegments(
    versionUid: string,
    entries: readonly SegmentEntry[],
    newBlobs: readonly BlobRef[],
    fence?: CommitFence,
  ): Promise<void> {
    const now = fence ? fence.now.getTime() : this.#clock.now().getTime();
    if (fence) {
      const s = await translate(() => this.#c.sessions.findOne({ _id: fence.sessionId }));
      if (!s || s.expires <= now) throw new SessionExpiredError(fence.sessionId);
    }
    await parallel(newBlobs, (b) => this.#recordNewBlob(b, now)); // distinct checksums: independent
    // Segments, touched so that a cleanup running now does not drop one a pointer is about to use.
    await parallel(
      entries.filter((e) => e.data),
      (e) =>
        translate(() =>
          this.#c.segments.updateOne(
            { _id: e.segId.toString('hex') },
            { $set: { touched: now }, $setOnInsert: { d: new Binary(e.data as Buffer) } },
            { upsert: true },
          ),
        ),
    );
    const byChunk = new Map<number, Document>();
    for (const e of entries) {
      const set = byChunk.get(Math.floor(e.segNo / POINTERS_PER_CHUNK)) ?? { v: versionUid };
      set[`s${e.segNo}`] = new Binary(e.segId);
      set[`n${e.segNo}`] = e.sparseBlocks;
      byChunk.set(Math.floor(e.segNo / POINTERS_PER_CHUNK), set);
    }
    await parallel([...byChunk], ([chunk, set]) =>
      translate(() =>
        this.#c.pointers.updateOne({ _id: `${versionUid}/${chunk}` as unknown as Document['_id'] }, { $set: set }, { upsert: true }),
      ),
    );
  }

  /** The same rules as the SQLite store: the first sound copy stays; others become orphans. */
  async #recordNewBlob(b: BlobRef, now: number): Promise<void> {
    const _id = b.checksum.toString('hex');
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await translate(() => this.#c.blobs.findOne({ _id }));
      if (row && row.uid === b.uid) {
        if (row.state === 'deleting')
          throw new ConflictError(`blob ${b.uid} is being deleted by cleanup; continue the backup to store it again`);
        await translate(() => this.#c.blobs.updateOne({ _id, uid: b.uid }, { $set: { touched: now, unrefSince: null } }));
        return;
      }
      if (row && row.state === 'live' && row.valid) {
        const r = await translate(() =>
          this.#c.blobs.updateOne({ _id, uid: row.uid, state: 'live', valid: true }, { $set: { touched: now, unrefSince: null } }),
        );
        if (r.matchedCount === 0) continue; // changed meanwhile: decide again
        await this.#addOrphan(b.uid, now);
        return;
      }
      const doc: BlobDoc = { _id, uid: b.uid, size: b.size, valid: true, created: now, state: 'live', touched: now, unrefSince: null };
      if (row) {
        const r = await translate(() => this.#c.blobs.replaceOne({ _id, uid: row.uid, state: row.state, valid: row.valid }, doc));
        if (r.matchedCount === 0) continue;
        await this.#addOrphan(row.uid, now);
        if (!row.valid) await translate(() => this.#c.invalid.deleteOne({ _id }));
        return;
      } else {
        try {
          await translate(() => this.#c.blobs.insertOne(doc));
        } catch (err) {
          if (err instanceof AlreadyExistsError) continue;
          throw err;
        }
      }
      return;
    }
    throw new ConflictError(`blob ${_id} kept changing while being recorded; retry`);
  }

  async #addOrphan(uid: string, since: number): Promise<void> {
    await translate(() => this.#c.orphans.updateOne({ _id: uid }, { $setOnInsert: { since } }, { upsert: true }));
  }

  async lookupBlobs(checksums: readonly Buffer[]): Promise<(BlobRef | undefined)[]> {
    return parallel(checksums, async (checksum) => {
      const row = await translate(() => this.#c.blobs.findOne({ _id: checksum.toString('hex') }));
      return row ? { checksum, uid: row.uid, size: row.size, valid: row.valid } : undefined;
    });
  }

  async claimBlobs(checksums: readonly Buffer[], now: Date): Promise<(BlobRef | undefined)[]> {
    return parallel(checksums, async (checksum) => {
      const _id = checksum.toString('hex');
      const claimed = await translate(() =>
        this.#c.blobs.findOneAndUpdate(
          { _id, state: 'live', valid: true },
          { $set: { touched: now.getTime(), unrefSince: null } },
          { returnDocument: 'after' },
        ),
      );
      if (claimed) return { checksum, uid: claimed.uid, size: claimed.size, valid: true };
      const row = await translate(() => this.#c.blobs.findOne({ _id }));
      return row && row.state === 'live' ? { checksum, uid: row.uid, size: row.size, valid: false } : undefined;
    });
  }

  async listInvalidChecksums(): Promise<Buffer[]> {
    return (await translate(() => this.#c.invalid.find({}).toArray())).map((d) => Buffer.from(d._id, 'hex'));
  }

  async invalidateBlob(checksum: Buffer, uid: string): Promise<string[]> {
    const _id = checksum.toString('hex');
    const r = await translate(() => this.#c.blobs.updateOne({ _id, uid }, { $set: { valid: false } }));
    if (r.matchedCount === 0) return [];
    await translate(() => this.#c.invalid.updateOne({ _id }, { $set: { _id } }, { upsert: true }));
    // Rare and O(metadata): scan the segments for the checksum, then the pointers for them.
    const segIds = new Set<string>();
    const versions = new Set<string>();
    await translate(async () => {
      for await (const seg of this.#c.segments.find({})) {
        if (referencesAny(buf(seg.d), checksum.length, [checksum])) segIds.add(seg._id);
      }
      for await (const doc of this.#c.pointers.find({})) {
        for (const [k, value] of Object.entries(doc)) {
          if (/^s\d+$/.test(k) && segIds.has(buf(value as Binary).toString('hex'))) versions.add(doc['v'] as string);
        }
      }
    });
    await parallel([...versions], (v) => translate(() => this.#c.versions.updateOne({ _id: v }, { $set: { valid: false } })));
    return [...versions].sort();
  }

  async openSession(s: BackupSession): Promise<void> {
    await translate(() =>
      this.#c.sessions.insertOne({
        _id: s.id,
        versionUid: s.versionUid,
        baseUid: s.baseUid,
        started: s.started.getTime(),
        expires: s.expires.getTime(),
      }),
    );
  }

  async renewSession(id: string, expires: Date, now: Date): Promise<void> {
    const r = await translate(() =>
      this.#c.sessions.updateOne({ _id: id, expires: { $gt: now.getTime() } }, { $set: { expires: expires.getTime() } }),
    );
    if (r.matchedCount === 0) throw new SessionExpiredError(id);
  }

  async closeSession(id: string): Promise<void> {
    await translate(() => this.#c.sessions.deleteOne({ _id: id }));
  }

  async liveSessions(now: Date): Promise<BackupSession[]> {
    const dead = now.getTime() - FENCE_MARGIN_MS;
    await translate(() => this.#c.sessions.deleteMany({ expires: { $lte: dead } }));
    const docs = await translate(() => this.#c.sessions.find({}).toArray());
    return docs.map((d) => ({
      id: d._id,
      versionUid: d.versionUid,
      baseUid: d.baseUid,
      started: new Date(d.started),
      expires: new Date(d.expires),
    }));
  }

  async referencedSegmentIds(): Promise<Buffer[]> {
    const ids = new Map<string, Buffer>();
    await translate(async () => {
      for await (const doc of this.#c.pointers.find({})) {
        for (const [k, value] of Object.entries(doc)) {
          if (/^s\d+$/.test(k)) {
            const id = buf(value as Binary);
            ids.set(id.toString('hex'), id);
          }
        }
      }
    });
    return [...ids.values()];
  }

  async deleteUnreferencedSegments(): Promise<number> {
    // Only segments untouched since before the oldest live session: a commit may be about to
    // point to a segment it has just (re)written.
    const now = this.#clock.now();
    const sessions = await this.liveSessions(now);
    const cutoff = Math.min(now.getTime(), ...sessions.map((s) => s.started.getTime())) - FENCE_MARGIN_MS;
    const referenced = new Set((await this.referencedSegmentIds()).map((b) => b.toString('hex')));
    const stale = (await translate(() => this.#c.segments.find({}, { projection: { _id: 1, touched: 1 } }).toArray())).filter(
      (s) => !referenced.has(s._id) && s.touched < cutoff,
    );
    await parallel(stale, (s) => translate(() => this.#c.segments.deleteOne({ _id: s._id, touched: s.touched })));
    return stale.length;
  }

  async listBlobRecords(): Promise<BlobRecord[]> {
    const docs = await translate(() => this.#c.blobs.find({}).toArray());
    return docs.map((d) => ({
      checksum: Buffer.from(d._id, 'hex'),
      uid: d.uid,
      size: d.size,
      valid: d.valid,
      state: d.state,
      created: new Date(d.created),
      touched: new Date(d.touched),
      unreferencedSince: d.unrefSince === null ? null : new Date(d.unrefSince),
    }));
  }

  async markUnreferenced(unreferenced: readonly Buffer[], referenced: readonly Buffer[], since: Date): Promise<void> {
    await parallel(unreferenced, (c) =>
      translate(() => this.#c.blobs.updateOne({ _id: c.toString('hex'), unrefSince: null }, { $set: { unrefSince: since.getTime() } })),
    );
    await parallel(referenced, (c) => translate(() => this.#c.blobs.updateOne({ _id: c.toString('hex') }, { $set: { unrefSince: null } })));
  }

  async condemnBlob(checksum: Buffer, uid: string, cutoff: Date): Promise<boolean> {
    const r = await translate(() =>
      this.#c.blobs.updateOne(
        { _id: checksum.toString('hex'), uid, state: 'live', touched: { $lt: cutoff.getTime() }, created: { $lt: cutoff.getTime() } },
        { $set: { state: 'deleting' } },
      ),
    );
    return r.modifiedCount === 1;
  }

  async forgetBlob(checksum: Buffer, uid: string): Promise<void> {
    const r = await translate(() => this.#c.blobs.deleteOne({ _id: checksum.toString('hex'), uid, state: 'deleting' }));
    if (r.deletedCount === 1) await translate(() => this.#c.invalid.deleteOne({ _id: checksum.toString('hex') }));
  }

  async listOrphans(): Promise<{ uid: string; since: Date }[]> {
    return (await translate(() => this.#c.orphans.find({}).toArray())).map((o) => ({ uid: o._id, since: new Date(o.since) }));
  }

  async forgetOrphans(uids: readonly string[]): Promise<void> {
    await parallel(uids, (uid) => translate(() => this.#c.orphans.deleteOne({ _id: uid })));
  }

  /** Drops every collection (tests). */
  async drop(): Promise<void> {
    await translate(() => this.#db.dropDatabase());
  }

  async close(): Promise<void> {
    await this.#close();
  }
}
