/**
 * Cleanup: deletes blobs no version references, safely under concurrent backups in other
 * processes. How it stays safe is in libs/core/README.md ("Cleanup"); in short:
 *
 * - A backup deduplicates only through `claimBlobs`, which touches the blob atomically with the
 *   check that it is live; cleanup condemns a blob only with a compare-and-set that requires it
 *   to be live and untouched since the cutoff. Whichever comes first wins; the loser either
 *   stores a fresh copy (the backup) or spares the blob (cleanup).
 * - The cutoff is no later than the start of the oldest live backup session, so a blob that a
 *   running backup claimed, or wrote but has not committed yet, is never condemned.
 * - A running backup's base version cannot be removed (its session pins it), so segments it
 *   reuses without claiming their blobs stay referenced.
 * - A backup whose session expired has its commits refused (fencing).
 */
import { digestAt, isSparseDigest } from './block-map.ts';
import type { EngineContext } from './context.ts';
import type { BlobRecord } from './ports.ts';

export interface CleanupOptions {
  /** Only blobs unreferenced for at least this long are deleted. 0: every unreferenced blob now. @default 3600 */
  readonly graceSeconds?: number;
  /** Also compare every object in the blob store with the metadata. @default false */
  readonly full?: boolean;
  /** With `full`: only objects whose key starts with this. @default '' */
  readonly prefix?: string;
  /** Report what would be deleted; delete nothing. @default false */
  readonly dryRun?: boolean;
  /**
   * Clock skew allowed between the processes that write the repository. The embedded mode runs
   * on one host and one clock. @default 0
   */
  readonly marginMs?: number;
  /**
   * With `full`: objects modified less than this long before the cutoff are never swept. Their
   * times come from the store's clock (coarse on filesystems, another host's for S3).
   * @default 60000
   */
  readonly storeSkewMs?: number;
  /** Test hook: awaited between phases, so tests can interleave other work deterministically. */
  readonly onPhase?: (phase: CleanupPhase) => Promise<void>;
}

export type CleanupPhase = 'marked' | 'condemned' | 'deleted';

export interface CleanupResult {
  readonly cutoff: Date;
  /** Unreferenced blobs past their grace period. */
  readonly candidates: number;
  /** Candidates a backup claimed meanwhile. */
  readonly spared: number;
  readonly blobsDeleted: number;
  readonly bytesDeleted: number;
  /** Superseded copies of repaired or re-uploaded blobs. */
  readonly orphansDeleted: number;
  /** With `full`: objects in the store that no metadata knows. */
  readonly strayObjectsDeleted: number;
  readonly segmentsDeleted: number;
  readonly dryRun: boolean;
}

export const DEFAULT_GRACE_SECONDS = 3600;
const SEGMENT_BATCH = 64;

export async function cleanup(ctx: EngineContext, options: CleanupOptions = {}): Promise<CleanupResult> {
  const lease = await ctx.locks.acquire('cleanup', { owner: ctx.owner });
  try {
    const result = await new CleanupRun(ctx, options).run();
    ctx.events.publish({ kind: 'cleanup.completed', ...result, cutoff: result.cutoff.toISOString() });
    return result;
  } finally {
    await lease.release();
  }
}

class CleanupRun {
  readonly #ctx: EngineContext;
  readonly #opts: CleanupOptions;
  readonly #dry: boolean;

  constructor(ctx: EngineContext, options: CleanupOptions) {
    this.#ctx = ctx;
    this.#opts = options;
    this.#dry = options.dryRun ?? false;
  }

  async run(): Promise<CleanupResult> {
    const { metadata, clock } = this.#ctx;
    const start = clock.now();
    const margin = this.#opts.marginMs ?? 0;
    // Sessions first, then the mark: a commit that its session's expiry let through happened
    // before this point, so the mark sees it.
    const sessions = await metadata.liveSessions(start);
    const oldest = Math.min(start.getTime(), ...sessions.map((s) => s.started.getTime()));
    const cutoff = new Date(oldest - margin);
    const graceEnd = start.getTime() - (this.#opts.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;

    const referenced = await this.#mark();
    const records = await metadata.listBlobRecords();
    const unreferenced = records.filter((r) => r.state === 'live' && !referenced.has(r.checksum.toString('hex')));
    const back = records.filter((r) => r.unreferencedSince !== null && referenced.has(r.checksum.toString('hex')));
    if (!this.#dry)
      await metadata.markUnreferenced(
        unreferenced.map((r) => r.checksum),
        back.map((r) => r.checksum),
        start,
      );
    await this.#opts.onPhase?.('marked');

    const due = unreferenced.filter((r) => (r.unreferencedSince ?? start).getTime() <= graceEnd);
    const condemned: BlobRecord[] = records.filter((r) => r.state === 'deleting'); // left by a crashed cleanup
    let spared = 0;
    for (const r of due) {
      if (this.#dry || (await metadata.condemnBlob(r.checksum, r.uid, cutoff))) condemned.push(r);
      else spared++;
    }
    await this.#opts.onPhase?.('condemned');

    if (!this.#dry) {
      await this.#ctx.blobs.delete(condemned.map((r) => r.uid));
      for (const r of condemned) await metadata.forgetBlob(r.checksum, r.uid);
    }
    await this.#opts.onPhase?.('deleted');

    const orphans = (await metadata.listOrphans())
      .filter((o) => o.since.getTime() <= Math.min(graceEnd, cutoff.getTime()))
      .map((o) => o.uid);
    if (!this.#dry) {
      await this.#ctx.blobs.delete(orphans);
      await metadata.forgetOrphans(orphans);
    }
    const segmentsDeleted = this.#dry ? 0 : await metadata.deleteUnreferencedSegments();
    const strayObjectsDeleted = this.#opts.full
      ? await this.#sweepStore(Math.min(cutoff.getTime(), graceEnd) - (this.#opts.storeSkewMs ?? 60_000))
      : 0;
    return {
      cutoff,
      candidates: due.length,
      spared,
      blobsDeleted: condemned.length,
      bytesDeleted: condemned.reduce((sum, r) => sum + r.size, 0),
      orphansDeleted: orphans.length,
      strayObjectsDeleted,
      segmentsDeleted,
      dryRun: this.#dry,
    };
  }

  /** Every checksum any version references, as hex. */
  async #mark(): Promise<Set<string>> {
    const { metadata, hasher } = this.#ctx;
    const ids = await metadata.referencedSegmentIds();
    const referenced = new Set<string>();
    for (let i = 0; i < ids.length; i += SEGMENT_BATCH) {
      for (const segment of await metadata.getSegments(ids.slice(i, i + SEGMENT_BATCH))) {
        for (let j = 0; j < segment.length / hasher.digestLength; j++) {
          const d = digestAt(segment, j, hasher.digestLength);
          if (!isSparseDigest(d)) referenced.add(d.toString('hex'));
        }
      }
    }
    return referenced;
  }

  /** Deletes objects no blob row or orphan record knows, last modified before `before`. */
  async #sweepStore(before: number): Promise<number> {
    const { metadata, blobs } = this.#ctx;
    const known = new Set((await metadata.listBlobRecords()).map((r) => r.uid));
    for (const o of await metadata.listOrphans()) known.add(o.uid);
    const stray: string[] = [];
    for await (const { key, modified } of blobs.listWithDates(this.#opts.prefix ?? '')) {
      if (!known.has(key) && modified.getTime() < before) stray.push(key);
    }
    if (!this.#dry) await blobs.delete(stray);
    return stray.length;
  }
}
