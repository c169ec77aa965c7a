/**
 * The restore engine: writes a version's blocks to a target, verifying every block against its
 * checksum. A damaged block invalidates its blob in every version that uses it, is reported, and
 * the restore goes on; the target ends at exactly the version's size.
 */
import { releaseBuffer } from './buffers.ts';
import { digestAt, isSparseDigest, SegmentLayout, type SegmentPointer } from './block-map.ts';
import { jobOf, ProgressMeter, type EngineContext, type ProgressListener } from './context.ts';
import { InvalidArgumentError, InvalidVersionStateError, isDamage, stoppedEvent, throwIfCancelled } from './errors.ts';
import { ATTR, inSpan, SPAN } from './tracing.ts';
import { blockLength, versionToJson, type BlobRef, type Version } from './model.ts';
import { TaskGroup } from './pipeline.ts';
import type { BlockTarget, MetadataStore } from './ports.ts';
import { zeroBuffer } from './zero.ts';

export interface RestoreRequest {
  readonly uid: string;
  readonly target: string;
  /** Leave holes for sparse blocks instead of writing zeros. */
  readonly sparse?: boolean;
  /** Overwrite an existing target. */
  readonly force?: boolean;
  /** Resume an interrupted restore from this block id. */
  readonly continueFrom?: number;
  readonly onProgress?: ProgressListener;
  /** Aborting it stops the restore between blocks with its reason (a CancelledError). */
  readonly signal?: AbortSignal;
  /** The job running it (the job API's job id): its events carry it, so subscribers can join them. */
  readonly jobId?: string;
}

export interface RestoreResult {
  readonly version: Version;
  readonly blocksRestored: number;
  readonly bytesRestored: number;
  /** Blocks whose data was missing or did not match its checksum. */
  readonly damagedBlocks: number[];
  /** Versions marked invalid because they share a damaged blob. */
  readonly invalidatedVersions: string[];
  readonly durationSeconds: number;
}

/** The restore's result as JSON (CLI `--json`, job results). */
export function restoreResultToJson(r: RestoreResult, target: string): Record<string, unknown> {
  return {
    version: versionToJson(r.version),
    target,
    blocksRestored: r.blocksRestored,
    bytesRestored: r.bytesRestored,
    damagedBlocks: r.damagedBlocks,
    invalidatedVersions: r.invalidatedVersions,
    durationSeconds: r.durationSeconds,
  };
}

/** Segments fetched per metadata round trip. */
const SEGMENT_BATCH = 16;

/** The blob refs of the non-sparse digests in block-map segments, by hex checksum (one lookup). */
export async function blobRefs(metadata: MetadataStore, segments: readonly Buffer[], digestLength: number): Promise<Map<string, BlobRef>> {
  const wanted = new Map<string, Buffer>();
  for (const segment of segments) {
    for (let off = 0; off < segment.length; off += digestLength) {
      const c = segment.subarray(off, off + digestLength);
      if (!isSparseDigest(c)) wanted.set(c.toString('hex'), c);
    }
  }
  const checksums = [...wanted.values()];
  const found = await metadata.lookupBlobs(checksums);
  const refs = new Map<string, BlobRef>();
  found.forEach((ref, i) => {
    if (ref) refs.set((checksums[i] as Buffer).toString('hex'), ref);
  });
  return refs;
}

export function restore(ctx: EngineContext, req: RestoreRequest): Promise<RestoreResult> {
  return inSpan(SPAN.restore, { [ATTR.versionUid]: req.uid, [ATTR.url]: req.target }, () => restoreVersion(ctx, req));
}

async function restoreVersion(ctx: EngineContext, req: RestoreRequest): Promise<RestoreResult> {
  const version = await ctx.metadata.getVersion(req.uid);
  const continueFrom = req.continueFrom ?? 0;
  if (!Number.isSafeInteger(continueFrom) || continueFrom < 0 || (version.size > 0 && continueFrom >= version.size)) {
    throw new InvalidArgumentError(`--continue-from ${req.continueFrom} is not a block of version ${version.uid} (0..${version.size - 1})`);
  }
  const { module, url } = ctx.io.resolve(req.target);
  const lease = await ctx.locks.acquire(`version:${version.uid}`, { owner: ctx.owner });
  try {
    const layout = new SegmentLayout(version.size, ctx.config.blocksPerSegment, ctx.hasher.digestLength);
    const pointers = await ctx.metadata.getVersionSegments(version.uid);
    if (pointers.size !== layout.segments) {
      throw new InvalidVersionStateError(
        `version ${version.uid} is incomplete (${pointers.size} of ${layout.segments} segments); finish its backup first: blockvault backup SOURCE NAME --continue ${version.uid}`,
      );
    }
    // A module that works where the data is (the reader service) may place blobs itself.
    const placing = module.openScanner
      ? { hash: ctx.config.hash, blockSize: ctx.config.blockSize, transforms: await ctx.codec.decoding() }
      : undefined;
    const target = await module.openTarget(url, {
      force: req.force ?? false,
      resume: continueFrom > 0,
      sizeBytes: version.sizeBytes,
      ...(placing ? { placing } : {}),
    });
    try {
      const result = await new RestoreRun(ctx, req, version, layout, pointers, target).run(continueFrom);
      ctx.events.publish({
        kind: 'restore.completed',
        versionUid: version.uid,
        target: req.target,
        damagedBlocks: result.damagedBlocks.length,
        ...jobOf(req),
      });
      return result;
    } finally {
      await target.close();
    }
  } catch (err) {
    ctx.events.publish(stoppedEvent('restore', err, { versionUid: version.uid, target: req.target, ...jobOf(req) }));
    throw err;
  } finally {
    await lease.release();
  }
}

class RestoreRun {
  readonly #ctx: EngineContext;
  readonly #req: RestoreRequest;
  readonly #version: Version;
  readonly #layout: SegmentLayout;
  readonly #pointers: Map<number, SegmentPointer>;
  readonly #target: BlockTarget;
  readonly #damaged: number[] = [];
  readonly #invalidated = new Set<string>();
  readonly #badChecksums = new Set<string>();
  #blocks = 0;
  #bytes = 0;
  /** Whether blobs go to the target for it to place (see BlockTarget.place). */
  #placing = true;

  constructor(
    ctx: EngineContext,
    req: RestoreRequest,
    version: Version,
    layout: SegmentLayout,
    pointers: Map<number, SegmentPointer>,
    target: BlockTarget,
  ) {
    this.#ctx = ctx;
    this.#req = req;
    this.#version = version;
    this.#layout = layout;
    this.#pointers = pointers;
    this.#target = target;
  }

  async run(continueFrom: number): Promise<RestoreResult> {
    const started = this.#ctx.clock.now().getTime();
    const meter = new ProgressMeter(
      this.#ctx,
      { operation: 'restore', versionUid: this.#version.uid, blocksTotal: this.#version.size - continueFrom, ...jobOf(this.#req) },
      this.#req.onProgress,
    );
    const tasks = new TaskGroup();
    const firstSeg = this.#layout.segmentOf(continueFrom);
    for (let seg = firstSeg; seg < this.#layout.segments; seg += SEGMENT_BATCH) {
      const segNos = Array.from({ length: Math.min(SEGMENT_BATCH, this.#layout.segments - seg) }, (_, i) => seg + i);
      const segments = await this.#ctx.metadata.getSegments(segNos.map((n) => (this.#pointers.get(n) as SegmentPointer).segId));
      const refs = await this.#lookupRefs(segments);
      for (const [i, segNo] of segNos.entries()) {
        const segment = segments[i] as Buffer;
        const first = this.#layout.firstBlock(segNo);
        for (let j = 0; j < this.#layout.blocksIn(segNo); j++) {
          const id = first + j;
          if (id < continueFrom) continue;
          const checksum = digestAt(segment, j, this.#layout.digestLength);
          await tasks.below(this.#ctx.concurrency);
          if (this.#req.signal?.aborted) {
            // Cancelled: the blocks in flight settle; their failures do not matter any more.
            await tasks.drain().catch((_settled: unknown) => undefined);
            throwIfCancelled(this.#req.signal);
          }
          tasks.check();
          tasks.spawn(async () => {
            const length = await this.#restoreBlock(id, checksum, refs.get(checksum.toString('hex')));
            meter.add(1, length);
          });
        }
      }
    }
    await tasks.drain();
    await this.#target.finish(this.#version.sizeBytes);
    return {
      version: await this.#ctx.metadata.getVersion(this.#version.uid),
      blocksRestored: this.#blocks,
      bytesRestored: this.#bytes,
      damagedBlocks: this.#damaged.sort((a, b) => a - b),
      invalidatedVersions: [...this.#invalidated].sort(),
      durationSeconds: (this.#ctx.clock.now().getTime() - started) / 1000,
    };
  }

  #lookupRefs(segments: Buffer[]): Promise<Map<string, BlobRef>> {
    return blobRefs(this.#ctx.metadata, segments, this.#layout.digestLength);
  }

  async #restoreBlock(id: number, checksum: Buffer, ref: BlobRef | undefined): Promise<number> {
    const length = blockLength(id, this.#version.sizeBytes, this.#ctx.config.blockSize);
    const offset = id * this.#ctx.config.blockSize;
    if (isSparseDigest(checksum)) {
      if (!this.#req.sparse) await (this.#target.zero ? this.#target.zero(offset, length) : this.#target.write(offset, zeroBuffer(length)));
      this.#count(length);
      return length;
    }
    // Where the target fetches blobs itself (the reader service), only the plan travels from here;
    // a blob it finds missing or unsound is checked again here before anything is marked.
    const placed =
      ref && this.#placing && this.#target.place ? await this.#target.place(offset, length, { uid: ref.uid, checksum }) : undefined;
    if (placed) {
      this.#count(length);
      return length;
    }
    const damagedBefore = this.#damaged.length;
    const data = ref ? await this.#readVerified(id, checksum, ref, length) : undefined;
    // Sound here but not there: the target's blob store is not ours; place nothing more through it.
    if (placed === false && this.#damaged.length === damagedBefore) this.#placing = false;
    if (!ref) this.#damaged.push(id);
    // Damaged data of the right length is still the best copy there is; otherwise zeros.
    await this.#target.write(offset, data && data.length === length ? data : zeroBuffer(length));
    // Written (the target is done with it): free its memory now rather than at a collection.
    if (data) releaseBuffer(data);
    this.#count(length);
    return length;
  }

  async #readVerified(id: number, checksum: Buffer, ref: BlobRef, length: number): Promise<Buffer | undefined> {
    let data: Buffer | undefined;
    try {
      const stored = await this.#ctx.blobs.get(ref.uid);
      data = await this.#ctx.codec.decode(ref.uid, stored);
      // A compressed or encrypted blob decodes into new memory; its stored form is done with.
      if (data.buffer !== stored.buffer) releaseBuffer(stored);
    } catch (err) {
      // A missing or unsound blob is damage; a store that is down or a key we lack is not.
      if (!isDamage(err)) throw err;
    }
    if (data && data.length === length && this.#ctx.hasher.digest(data).equals(checksum)) return data;
    this.#damaged.push(id);
    await this.#invalidate(checksum, ref);
    return data;
  }

  async #invalidate(checksum: Buffer, ref: BlobRef): Promise<void> {
    const key = checksum.toString('hex');
    if (this.#badChecksums.has(key)) return;
    this.#badChecksums.add(key);
    const versions = await this.#ctx.metadata.invalidateBlob(checksum, ref.uid);
    for (const v of versions) this.#invalidated.add(v);
    this.#ctx.events.publish({ kind: 'blob.invalid', blobUid: ref.uid, checksum: key, versions });
  }

  #count(bytes: number): void {
    this.#blocks++;
    this.#bytes += bytes;
  }
}
