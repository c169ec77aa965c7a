/**
 * The backup engine: reads a source block by block, stores only blocks never seen before, and
 * records the version's block map segment by segment. A blob is durable before any segment
 * that refers to it is committed, so an interrupted backup can be continued.
 */
import { Action, BackupPlan } from './backup-plan.ts';
import { digestAt, isSparseDigest, referencesAny, SegmentLayout, type SegmentPointer } from './block-map.ts';
import { jobOf, ProgressMeter, type EngineContext, type ProgressListener } from './context.ts';
import {
  ConflictError,
  InvalidArgumentError,
  InvalidVersionStateError,
  SanityCheckError,
  errorCodeOf,
  stoppedEvent,
  throwIfCancelled,
} from './errors.ts';
import { storeVersionMetadata } from './export.ts';
import { classifyBlocks, type Hint } from './hints.ts';
import { emptyStats, type BackupStats, type BlobRef, type Version } from './model.ts';
import { TaskGroup, Batcher } from './pipeline.ts';
import type { BlockScanner, IoModule, Lease, LockOptions, ScannedBlock, SegmentEntry } from './ports.ts';
import { LocalScanner } from './scanner.ts';
import { autoTags, isValidTag } from './tags.ts';
import { SegmentBuilder } from './segment-builder.ts';
import { BackupSessionLease } from './session.ts';
import { ATTR, BlockTrace, DEFAULT_BLOCK_TRACE_RATIO, inSpan, SPAN } from './tracing.ts';

export interface BackupRequest {
  readonly source: string;
  readonly name: string;
  readonly snapshotName?: string;
  readonly hints?: readonly Hint[];
  readonly fromUid?: string;
  readonly continueUid?: string;
  readonly tags?: readonly string[];
  readonly expire?: Date | null;
  readonly onProgress?: ProgressListener;
  /** Called once the version exists (before any block is stored), with its uid. */
  readonly onVersion?: (uid: string) => void;
  /** Aborting it stops the backup between blocks with its reason (a CancelledError); the version stays resumable. */
  readonly signal?: AbortSignal;
  /** Who holds the version's lock, for messages and takeover (a job's attempt). @default the process (host:pid) */
  readonly lockOwner?: string;
  /** Take the version's lock over from a stalled holder whose owner starts with this (see LockOptions). */
  readonly takeOverFrom?: string;
  /** The job running it (the job API's job id): its events carry it, so subscribers can join them. */
  readonly jobId?: string;
}

export interface BackupResult {
  readonly version: Version;
  readonly stats: BackupStats;
}

/** Blocks the sanity check re-reads outside the hints. */
export const SANITY_CHECK_BLOCKS = 10;
const NAME_PATTERN = /^[A-Za-z0-9_.:@+-]{1,255}$/;

export async function backup(ctx: EngineContext, req: BackupRequest): Promise<BackupResult> {
  checkBackupRequest(req);
  const { module, url } = ctx.io.resolve(req.source);
  return inSpan(SPAN.backup, { [ATTR.url]: req.source }, async (span) => {
    const scanner = await openScanner(ctx, module, url);
    try {
      const result = await new BackupRun(ctx, req, scanner, module, url).run();
      span.setAttribute(ATTR.versionUid, result.version.uid);
      return result;
    } finally {
      await scanner.close();
    }
  });
}

/** The source's own scanner where it has one (the reader service: hashing where the data is), else ours over its bytes. */
async function openScanner(ctx: EngineContext, module: IoModule, url: URL): Promise<BlockScanner> {
  const window = ctx.concurrency;
  const { blockSize } = ctx.config;
  const there = await module.openScanner?.(url, { hash: ctx.config.hash, window, blockSize, transforms: await ctx.codec.encoding() });
  if (there) return there;
  return new LocalScanner(await module.openSource(url), { hasher: ctx.hasher, codec: ctx.codec, blobs: ctx.blobs, window, blockSize });
}

/** Checks what a backup request can be checked for without I/O (name, tags); the job API calls it on submit. */
export function checkBackupRequest(req: Pick<BackupRequest, 'name' | 'tags' | 'continueUid' | 'fromUid'>): void {
  if (!NAME_PATTERN.test(req.name)) {
    throw new InvalidArgumentError(`invalid name ${JSON.stringify(req.name)}: use 1-255 of A-Z a-z 0-9 _ . : @ + -`);
  }
  if ((req.tags?.length ?? 0) > 64) throw new InvalidArgumentError(`${req.tags!.length} tags: at most 64`);
  for (const tag of req.tags ?? []) {
    if (!isValidTag(tag)) throw new InvalidArgumentError(`invalid tag ${JSON.stringify(tag)}: use 1-64 of A-Z a-z 0-9 _ . : -`);
  }
  if (req.continueUid && req.fromUid) {
    throw new InvalidArgumentError('--continue resumes a version as it was started; do not combine it with --from');
  }
}

interface ResolvedBlob {
  readonly ref: BlobRef;
  /** Written by this run (not yet known to the metadata store before this run commits it). */
  readonly isNew: boolean;
}

class BackupRun {
  readonly #ctx: EngineContext;
  readonly #req: BackupRequest;
  #versionUid = '';
  readonly #scanner: BlockScanner;
  /** Whether a blob stored through a remote scanner was found in our own blob store (checked once). */
  #remoteChecked = false;
  readonly #stats = emptyStats();
  readonly #started: number;
  readonly #lookup: Batcher<Buffer, BlobRef | undefined>;
  /** Blobs this run resolved and whose segment is not committed yet, by hex checksum. */
  readonly #inflight = new Map<string, Promise<ResolvedBlob>>();
  #plan!: BackupPlan;
  #base: Version | undefined;
  #baseLayout: SegmentLayout | undefined;
  #basePointers = new Map<number, SegmentPointer>();
  #invalidChecksums: Buffer[] = [];
  #fence!: BackupSessionLease;

  readonly #module: IoModule;
  readonly #url: URL;
  /** `{ jobId }` for this run's events when a job runs it. */
  readonly #job: { jobId?: string };

  constructor(ctx: EngineContext, req: BackupRequest, scanner: BlockScanner, module: IoModule, url: URL) {
    this.#ctx = ctx;
    this.#req = req;
    this.#job = jobOf(req);
    this.#scanner = scanner;
    this.#module = module;
    this.#url = url;
    this.#started = ctx.clock.now().getTime();
    this.#lookup = new Batcher((keys) => ctx.metadata.claimBlobs(keys, ctx.clock.now()));
  }

  async run(): Promise<BackupResult> {
    const { config } = this.#ctx;
    const sizeBytes = this.#scanner.sizeBytes;
    const uid = this.#req.continueUid ?? this.#ctx.newVersionUid();
    // The session pins the base against rm before the base is read (see libs/core/README.md).
    const session = await BackupSessionLease.open(this.#ctx, uid, this.#req.fromUid ?? null);
    this.#fence = session;
    try {
      this.#base = this.#req.fromUid ? await this.#loadBase(this.#req.fromUid) : undefined;
      const hintList = this.#req.hints ?? (await this.#derivedHints());
      const hints = hintList ? classifyBlocks(hintList, sizeBytes, config.blockSize) : undefined;
      this.#plan = new BackupPlan(
        { sizeBytes, blockSize: config.blockSize, hints, base: this.#base },
        config.blocksPerSegment,
        this.#ctx.hasher.digestLength,
      );
      const { version, lease } = await this.#openVersion(uid, sizeBytes);
      this.#req.onVersion?.(version.uid);
      try {
        const done = await this.#ctx.metadata.getVersionSegments(version.uid);
        this.#invalidChecksums = await this.#ctx.metadata.listInvalidChecksums();
        await this.#sanityCheck(version.uid);
        await this.#writeSegments(version, done);
        return await this.#finish(version);
      } catch (err) {
        this.#ctx.events.publish(stoppedEvent('backup', err, { versionUid: version.uid, name: version.name, ...this.#job }));
        throw err;
      } finally {
        await lease.release();
      }
    } finally {
      await session.close();
    }
  }

  /** Hints from the source itself (RBD diffs), when the user gave none and nothing is continued. */
  async #derivedHints(): Promise<readonly Hint[] | undefined> {
    if (!this.#module.deriveHints || this.#req.continueUid) return undefined;
    if (this.#base && !this.#base.snapshotName) return undefined;
    return this.#module.deriveHints(this.#url, this.#base ? this.#base.snapshotName : null);
  }

  async #loadBase(uid: string): Promise<Version> {
    const base = await this.#ctx.metadata.getVersion(uid);
    if (!base.valid)
      throw new InvalidVersionStateError(`base version ${uid} is not valid; choose a valid version for --from (see \`blockvault ls\`)`);
    this.#baseLayout = new SegmentLayout(base.size, this.#ctx.config.blocksPerSegment, this.#ctx.hasher.digestLength);
    this.#basePointers = await this.#ctx.metadata.getVersionSegments(uid);
    return base;
  }

  #lockOptions(owner: string): LockOptions {
    return { owner: this.#req.lockOwner ?? owner, ...(this.#req.takeOverFrom ? { takeOverFrom: this.#req.takeOverFrom } : {}) };
  }

  async #openVersion(uid: string, sizeBytes: number): Promise<{ version: Version; lease: Lease }> {
    const { metadata, locks, owner, clock } = this.#ctx;
    if (this.#req.continueUid) {
      const lease = await locks.acquire(`version:${uid}`, this.#lockOptions(owner));
      try {
        const version = await metadata.getVersion(uid);
        if (version.valid) throw new InvalidVersionStateError(`version ${uid} is complete and valid; there is nothing to continue`);
        if (version.sizeBytes !== sizeBytes) {
          throw new InvalidVersionStateError(
            `version ${uid} is ${version.sizeBytes} bytes but the source is ${sizeBytes}; a backup can only be continued from the same source`,
          );
        }
        return { version, lease };
      } catch (err) {
        await lease.release();
        throw err;
      }
    }
    const now = clock.now();
    // Automatic tags wait for completion: they go to the first *valid* version of each period,
    // so an interrupted attempt never takes them from the backup that completes.
    const tags = this.#req.tags?.length ? [...new Set(this.#req.tags)] : [];
    const version: Version = {
      uid,
      name: this.#req.name,
      snapshotName: this.#req.snapshotName ?? '',
      date: now,
      size: this.#plan.blocks,
      sizeBytes,
      valid: false,
      protected: false,
      tags,
      expire: this.#req.expire ?? null,
      stats: null,
    };
    // Lock first: between creating the version and locking it, an rm could remove it.
    const lease = await locks.acquire(`version:${version.uid}`, this.#lockOptions(owner));
    try {
      await metadata.createVersion(version);
    } catch (err) {
      await lease.release();
      throw err;
    }
    this.#ctx.events.publish({ kind: 'version.created', versionUid: version.uid, name: version.name, sizeBytes, ...this.#job });
    return { version, lease };
  }

  /** Re-reads a few blocks outside the hints; any difference from the base deletes the version. */
  async #sanityCheck(uid: string): Promise<void> {
    const ids = this.#plan.sanityCheckBlocks(SANITY_CHECK_BLOCKS, this.#ctx.random);
    if (ids.length === 0) return;
    for (const id of ids) {
      const length = this.#plan.blockLength(id);
      const scanned = await this.#scan(id);
      if (!scanned.sparse) scanned.release();
      const expected = await this.#baseDigest(id);
      const actual = scanned.sparse ? Buffer.alloc(this.#ctx.hasher.digestLength) : scanned.digest;
      if (!actual.equals(expected)) {
        await this.#ctx.metadata.deleteVersion(uid, this.#ctx.clock.now());
        throw new SanityCheckError(id, this.#ctx.config.blockSize, uid);
      }
      this.#stats.blocksChecked++;
      this.#stats.bytesChecked += length;
    }
  }

  async #baseDigest(id: number): Promise<Buffer> {
    const layout = this.#baseLayout as SegmentLayout;
    const segNo = layout.segmentOf(id);
    const segment = await this.#baseSegment(segNo);
    return digestAt(segment, id - layout.firstBlock(segNo), layout.digestLength);
  }

  async #baseSegment(segNo: number): Promise<Buffer> {
    const ptr = this.#basePointers.get(segNo);
    if (!ptr) throw new InvalidVersionStateError(`base version ${this.#base?.uid} has no segment ${segNo}; it is incomplete`);
    const [segment] = await this.#ctx.metadata.getSegments([ptr.segId]);
    return segment as Buffer;
  }

  async #scan(id: number): Promise<ScannedBlock> {
    const length = this.#plan.blockLength(id);
    const scanned = await this.#scanner.scan(id * this.#ctx.config.blockSize, length);
    this.#stats.blocksRead++;
    this.#stats.bytesRead += length;
    return scanned;
  }

  async #writeSegments(version: Version, done: Map<number, SegmentPointer>): Promise<void> {
    const { layout } = this.#plan;
    this.#versionUid = version.uid;
    const meter = new ProgressMeter(
      this.#ctx,
      { operation: 'backup', versionUid: version.uid, blocksTotal: layout.blocks, ...this.#job },
      this.#req.onProgress,
    );
    const tasks = new TaskGroup();
    const committer = new Committer(this.#ctx, version.uid, this.#fence);
    try {
      for (let segNo = 0; segNo < layout.segments; segNo++) {
        throwIfCancelled(this.#req.signal);
        tasks.check();
        committer.check();
        if (done.has(segNo)) {
          meter.add(layout.blocksIn(segNo), 0);
          continue;
        }
        const reused = await this.#reusableBaseSegment(segNo);
        if (reused) {
          await this.#countReused(segNo, reused);
          committer.add({ segNo, segId: reused.segId, sparseBlocks: reused.sparseBlocks }, []);
          meter.add(layout.blocksIn(segNo), 0);
          continue;
        }
        const builder = await this.#buildSegment(segNo, tasks, meter);
        committer.add(builder.completion, builder.newBlobs, () => this.#forget(builder.ownedKeys));
      }
    } catch (err) {
      // Let blocks in flight settle before the lock and session go: nothing writes after we return.
      // Their own failures are the same outage or later consequences of `err`, which is the one to report.
      await tasks.drain().catch((_settled: unknown) => undefined);
      await committer.drain().catch((_settled: unknown) => undefined);
      throw err;
    }
    await tasks.drain();
    await committer.drain();
  }

  async #reusableBaseSegment(segNo: number): Promise<SegmentPointer | undefined> {
    if (!this.#plan.segmentIsUntouched(segNo, this.#baseLayout)) return undefined;
    const ptr = this.#basePointers.get(segNo);
    if (!ptr) return undefined;
    if (this.#invalidChecksums.length > 0) {
      // Rare: a blob is known to be bad; rebuild segments that use it so its blocks are re-read.
      if (referencesAny(await this.#baseSegment(segNo), this.#ctx.hasher.digestLength, this.#invalidChecksums)) return undefined;
    }
    return ptr;
  }

  async #countReused(segNo: number, ptr: SegmentPointer): Promise<void> {
    const { layout } = this.#plan;
    const { blockSize } = this.#ctx.config;
    const first = layout.firstBlock(segNo);
    const blocks = layout.blocksIn(segNo);
    const lastLength = this.#plan.blockLength(first + blocks - 1);
    const bytes = (blocks - 1) * blockSize + lastLength;
    let sparseBytes = ptr.sparseBlocks * blockSize;
    if (lastLength !== blockSize && ptr.sparseBlocks > 0) {
      // Only the volume's last segment has a short block; whether it is sparse decides the bytes.
      const lastIsSparse =
        ptr.sparseBlocks === blocks || isSparseDigest(digestAt(await this.#baseSegment(segNo), blocks - 1, layout.digestLength));
      if (lastIsSparse) sparseBytes += lastLength - blockSize;
    }
    this.#stats.blocksSparse += ptr.sparseBlocks;
    this.#stats.bytesSparse += sparseBytes;
    this.#stats.blocksDedup += blocks - ptr.sparseBlocks;
    this.#stats.bytesDedup += bytes - sparseBytes;
  }

  async #buildSegment(segNo: number, tasks: TaskGroup, meter: ProgressMeter): Promise<SegmentBuilder> {
    const { layout } = this.#plan;
    const first = layout.firstBlock(segNo);
    const count = layout.blocksIn(segNo);
    const builder = new SegmentBuilder(segNo, count, layout.digestLength, this.#ctx.hasher);
    let baseSegment: Buffer | undefined;
    for (let i = 0; i < count; i++) {
      const id = first + i;
      const length = this.#plan.blockLength(id);
      let action = this.#plan.action(id);
      if (action === Action.Base) {
        baseSegment ??= await this.#baseSegment(segNo);
        const digest = digestAt(baseSegment, i, layout.digestLength);
        if (this.#invalidChecksums.some((c) => c.equals(digest))) {
          action = Action.Read;
        } else {
          builder.set(i, digest);
          this.#count(builder.isSparse(i) ? 'sparse' : 'dedup', length);
          meter.add(1, 0);
          continue;
        }
      }
      if (action === Action.Sparse) {
        this.#count('sparse', length);
        meter.add(1, 0);
        continue;
      }
      throwIfCancelled(this.#req.signal);
      // Blocks in flight are bounded: each holds its bytes in the scanner until stored or released.
      await tasks.below(this.#ctx.concurrency);
      tasks.check();
      builder.begin();
      const trace = new BlockTrace(this.#ctx.random() < (this.#ctx.traceBlockRatio ?? DEFAULT_BLOCK_TRACE_RATIO), {
        [ATTR.versionUid]: this.#versionUid,
        [ATTR.blockIndex]: id,
        [ATTR.blockSize]: length,
      });
      tasks.spawn(async () => {
        try {
          await this.#storeBlock(id, builder, i, trace);
          trace.end();
          meter.add(1, length);
          builder.end();
        } catch (err) {
          trace.end(err);
          builder.abort(err);
          throw err;
        }
      });
    }
    builder.sealed();
    return builder;
  }

  #count(kind: 'sparse' | 'dedup' | 'written', bytes: number): void {
    const s = this.#stats;
    if (kind === 'sparse') {
      s.blocksSparse++;
      s.bytesSparse += bytes;
    } else if (kind === 'dedup') {
      s.blocksDedup++;
      s.bytesDedup += bytes;
    } else {
      s.blocksWritten++;
      s.bytesWritten += bytes;
    }
  }

  /** Scans one block (read, zero check and hash, where the data is), then records it as sparse, as a duplicate, or as a new durable blob. */
  async #storeBlock(id: number, builder: SegmentBuilder, index: number, trace: BlockTrace): Promise<void> {
    const length = this.#plan.blockLength(id);
    const scanned = await trace.step(SPAN.read, () => this.#scan(id));
    if (scanned.sparse) {
      trace.setAttributes({ [ATTR.blockSparse]: true, [ATTR.blockDedup]: false });
      this.#count('sparse', length);
      return;
    }
    const checksum = scanned.digest;
    const key = checksum.toString('hex');
    let pending = this.#inflight.get(key);
    const first = pending === undefined;
    if (!pending) {
      pending = this.#resolveBlob(checksum, length, scanned, trace);
      this.#inflight.set(key, pending);
      builder.ownInflight(key);
    } else {
      scanned.release(); // a duplicate of a block already in flight needs its bytes no longer
    }
    const resolved = await pending;
    builder.set(index, checksum);
    if (resolved.isNew) builder.newBlobs.set(key, resolved.ref);
    const written = first && resolved.isNew;
    trace.setAttributes({ [ATTR.blockSparse]: false, [ATTR.blockDedup]: !written, [ATTR.blockNew]: written });
    this.#count(written ? 'written' : 'dedup', length);
  }

  async #resolveBlob(checksum: Buffer, size: number, scanned: ScannedBlock & { sparse: false }, trace: BlockTrace): Promise<ResolvedBlob> {
    let known: BlobRef | undefined;
    try {
      known = await trace.step(SPAN.dedupLookup, () => this.#lookup.load(checksum));
    } catch (err) {
      scanned.release();
      throw err;
    }
    if (known && known.valid && known.size === size) {
      scanned.release();
      return { ref: known, isNew: false };
    }
    // Unknown, or known to be damaged: store a fresh copy under a new uid.
    const ref: BlobRef = { checksum, uid: this.#ctx.newBlobUid(), size, valid: true };
    const stored = await trace.step(SPAN.put, () => scanned.store(ref.uid));
    if (this.#scanner.remote && !this.#remoteChecked) await this.#checkRemoteStore(ref.uid, stored);
    return { ref, isNew: true };
  }

  /**
   * A reader stores new blobs through its own blob store configuration: the first one it stores
   * must be in ours, or every segment would refer to blobs stored somewhere else.
   */
  async #checkRemoteStore(uid: string, size: number): Promise<void> {
    const found = await this.#ctx.blobs.stat(uid);
    if (found?.size !== size) {
      throw new ConflictError(
        `the reader for ${this.#scanner.url} stored blob ${uid} (${size} bytes) where this worker's blob store ` +
          `${found ? `has ${found.size} bytes` : 'does not find it'}: give the reader the same blob store (BLOCKVAULT_BLOBSTORE_URL or BLOCKVAULT_S3_*)`,
      );
    }
    this.#remoteChecked = true;
  }

  async #finish(version: Version): Promise<BackupResult> {
    const { metadata, clock, events } = this.#ctx;
    const recorded = await metadata.getVersionSegments(version.uid);
    if (recorded.size !== this.#plan.layout.segments) {
      throw new InvalidVersionStateError(
        `version ${version.uid} has ${recorded.size} of ${this.#plan.layout.segments} segments recorded; continue it with --continue`,
      );
    }
    this.#stats.durationSeconds = (clock.now().getTime() - this.#started) / 1000;
    // The last fenced write: a backup whose session expired must not mark its version valid.
    await metadata.commitSegments(version.uid, [], [], this.#fence.fence());
    const current = await metadata.getVersion(version.uid);
    const tags =
      current.tags.length > 0
        ? undefined
        : autoTags(
            (await metadata.listVersions({ name: current.name })).filter((v) => v.valid && v.uid !== current.uid),
            current.date,
          );
    await metadata.updateVersion(version.uid, { valid: true, stats: this.#stats, ...(tags ? { tags } : {}) });
    await this.#storeMetadataCopy(version.uid);
    const final = await metadata.getVersion(version.uid);
    events.publish({ kind: 'backup.completed', versionUid: final.uid, name: final.name, stats: this.#stats, ...this.#job });
    return { version: final, stats: { ...this.#stats } };
  }

  /** The copy in the blob store is for disaster recovery: failing to write it fails nothing. */
  async #storeMetadataCopy(uid: string): Promise<void> {
    try {
      await storeVersionMetadata(this.#ctx, uid);
    } catch (err) {
      this.#ctx.events.publish({
        kind: 'version.metadata-copy-failed',
        versionUid: uid,
        error: (err as Error).message,
        code: errorCodeOf(err),
        ...this.#job,
      });
    }
  }

  /** Forget in-flight entries once the segment that first resolved them is committed. */
  #forget(keys: Iterable<string>): void {
    for (const k of keys) this.#inflight.delete(k);
  }
}

/** Commits segments in order, batching consecutive reused pointers into one call. */
class Committer {
  readonly #ctx: EngineContext;
  readonly #uid: string;
  readonly #session: BackupSessionLease;
  #chain: Promise<void> = Promise.resolve();
  #batch: SegmentEntry[] = [];
  #error: unknown;
  #failed = false;

  constructor(ctx: EngineContext, uid: string, session: BackupSessionLease) {
    this.#ctx = ctx;
    this.#uid = uid;
    this.#session = session;
  }

  check(): void {
    if (this.#failed) throw this.#error;
  }

  add(entry: SegmentEntry | Promise<SegmentEntry>, newBlobs: Map<string, BlobRef> | BlobRef[], committed?: () => void): void {
    if (!(entry instanceof Promise) && Array.isArray(newBlobs) && newBlobs.length === 0) {
      this.#batch.push(entry);
      if (this.#batch.length >= 256) this.#flushBatch();
      return;
    }
    this.#flushBatch();
    this.#enqueue(async () => {
      const e = await entry;
      const blobs = Array.isArray(newBlobs) ? newBlobs : [...newBlobs.values()];
      await inSpan(SPAN.segmentCommit, { [ATTR.versionUid]: this.#uid, [ATTR.segment]: e.segNo }, () =>
        this.#ctx.metadata.commitSegments(this.#uid, [e], blobs, this.#session.fence()),
      );
      committed?.();
    });
  }

  #flushBatch(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#enqueue(() =>
      inSpan(SPAN.segmentCommit, { [ATTR.versionUid]: this.#uid }, () =>
        this.#ctx.metadata.commitSegments(this.#uid, batch, [], this.#session.fence()),
      ),
    );
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      try {
        await step();
      } catch (err) {
        this.#failed = true;
        this.#error = err;
      }
    });
  }

  async drain(): Promise<void> {
    this.#flushBatch();
    await this.#chain;
    this.check();
  }
}
