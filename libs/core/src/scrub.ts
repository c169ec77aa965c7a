/**
 * Scrub: finds rot before a restore needs the data. A light scrub checks that each sampled
 * block's blob exists with the right size; a deep scrub reads and re-hashes it, and with a
 * source also compares the source's block (a source mismatch fails the scrub but does not
 * invalidate the block: the source is the suspect). Damage invalidates the blob in every version
 * that uses it; a complete, clean version is marked valid. A batch scrub checks each blob once.
 */
import { digestAt, isSparseDigest, SegmentLayout } from './block-map.ts';
import { BLOB_HEADER_LENGTH } from './blob-format.ts';
import { jobOf, type EngineContext } from './context.ts';
import { InvalidArgumentError, isDamage, throwIfCancelled } from './errors.ts';
import { blockLength, type BlobRef, type Version } from './model.ts';
import type { BlockSource } from './ports.ts';
import { isZero } from './zero.ts';

export interface ScrubOptions {
  /** Check a random P% of the blocks. @default 100 */
  readonly percent?: number;
  /** Read and re-hash each blob. @default false */
  readonly deep?: boolean;
  /** With deep: also compare against this source URL. */
  readonly source?: string;
  /** Aborting it stops the scrub between blocks with its reason (a CancelledError): damage found so far stays marked; the version's validity is left as it was. */
  readonly signal?: AbortSignal;
  /** The job running it (the job API's job id): its events carry it, so subscribers can join them. */
  readonly jobId?: string;
}

export interface ScrubResult {
  readonly uid: string;
  readonly deep: boolean;
  readonly blocksChecked: number;
  readonly bytesChecked: number;
  /** Blocks whose blob is missing, truncated or corrupt; marked invalid. */
  readonly damagedBlocks: number[];
  /** Blocks whose source data differs from the backup (nothing marked). */
  readonly sourceMismatches: number[];
  /** Fewer blocks recorded than the version's size: an interrupted backup. */
  readonly incomplete: boolean;
  /** The version's validity after the scrub. */
  readonly valid: boolean;
}

export interface BatchScrubOptions extends ScrubOptions {
  /** Scrub a random Q% of the matching versions. @default 100 */
  readonly versionsPercent?: number;
  /** Only versions of this volume. */
  readonly name?: string;
}

/** Verdict per blob, shared by every version of one (batch) run. */
type Verdict = 'ok' | 'damaged';

function checkPercent(value: number | undefined, what: string): number {
  const p = value ?? 100;
  if (!Number.isFinite(p) || p <= 0 || p > 100) throw new InvalidArgumentError(`${what} must be a number in (0, 100], got ${value}`);
  return p;
}

export async function scrub(
  ctx: EngineContext,
  uid: string,
  options: ScrubOptions = {},
  verdicts = new Map<string, Verdict>(),
): Promise<ScrubResult> {
  const percent = checkPercent(options.percent, '--percent');
  const version = await ctx.metadata.getVersion(uid);
  const lease = await ctx.locks.acquire(`version:${uid}`, { owner: ctx.owner });
  let source: BlockSource | undefined;
  try {
    if (options.source) {
      const { module, url } = ctx.io.resolve(options.source);
      source = await module.openSource(url);
    }
    const result = await new ScrubRun(ctx, version, percent, options.deep ?? false, source, verdicts, options.signal).run();
    ctx.events.publish({
      kind: 'scrub.completed',
      versionUid: uid,
      deep: result.deep,
      damagedBlocks: result.damagedBlocks.length,
      sourceMismatches: result.sourceMismatches.length,
      valid: result.valid,
      ...jobOf(options),
    });
    return result;
  } finally {
    await source?.close();
    await lease.release();
  }
}

export async function batchScrub(ctx: EngineContext, options: BatchScrubOptions = {}): Promise<ScrubResult[]> {
  const share = checkPercent(options.versionsPercent, '--versions-percent');
  const all = await ctx.metadata.listVersions(options.name !== undefined ? { name: options.name } : {});
  const chosen = all.filter(() => ctx.random() * 100 < share);
  const verdicts = new Map<string, Verdict>();
  const results: ScrubResult[] = [];
  for (const v of chosen)
    results.push(await scrub(ctx, v.uid, { percent: options.percent, deep: options.deep, signal: options.signal }, verdicts));
  return results;
}

class ScrubRun {
  readonly #ctx: EngineContext;
  readonly #version: Version;
  readonly #percent: number;
  readonly #deep: boolean;
  readonly #source: BlockSource | undefined;
  readonly #verdicts: Map<string, Verdict>;
  readonly #damaged: number[] = [];
  readonly #mismatches: number[] = [];
  #blocks = 0;
  #bytes = 0;

  readonly #signal: AbortSignal | undefined;

  constructor(
    ctx: EngineContext,
    version: Version,
    percent: number,
    deep: boolean,
    source: BlockSource | undefined,
    verdicts: Map<string, Verdict>,
    signal?: AbortSignal,
  ) {
    this.#signal = signal;
    this.#ctx = ctx;
    this.#version = version;
    this.#percent = percent;
    this.#deep = deep || source !== undefined;
    this.#source = source;
    this.#verdicts = verdicts;
  }

  async run(): Promise<ScrubResult> {
    const { metadata, config, hasher } = this.#ctx;
    const v = this.#version;
    const layout = new SegmentLayout(v.size, config.blocksPerSegment, hasher.digestLength);
    const pointers = await metadata.getVersionSegments(v.uid);
    const incomplete = pointers.size < layout.segments;
    let allBlobsValid = true;
    const buf = this.#source ? Buffer.allocUnsafe(config.blockSize) : undefined;
    for (const [segNo, ptr] of [...pointers].sort((a, b) => a[0] - b[0])) {
      const [segment] = await metadata.getSegments([ptr.segId]);
      const digests = Array.from({ length: layout.blocksIn(segNo) }, (_, i) => digestAt(segment as Buffer, i, layout.digestLength));
      const stored = digests.filter((d) => !isSparseDigest(d));
      const refs = await metadata.lookupBlobs(stored);
      const byKey = new Map(refs.flatMap((r) => (r ? [[r.checksum.toString('hex'), r] as const] : [])));
      for (const [i, digest] of digests.entries()) {
        throwIfCancelled(this.#signal);
        const id = layout.firstBlock(segNo) + i;
        if (this.#ctx.random() * 100 >= this.#percent) {
          if (!isSparseDigest(digest) && byKey.get(digest.toString('hex'))?.valid === false) allBlobsValid = false;
          continue;
        }
        const length = blockLength(id, v.sizeBytes, config.blockSize);
        if (!isSparseDigest(digest)) {
          const verdict = await this.#check(digest, byKey.get(digest.toString('hex')), length);
          if (verdict === 'damaged') this.#damaged.push(id);
        }
        if (this.#source && buf) await this.#compareSource(id, digest, length, buf);
        this.#blocks++;
        this.#bytes += length;
      }
    }
    const damaged = incomplete || this.#damaged.length > 0 || !allBlobsValid;
    // Damage already marked the version (and every other user of the blob) invalid.
    if (incomplete || !damaged) await metadata.updateVersion(v.uid, { valid: !damaged });
    return {
      uid: v.uid,
      deep: this.#deep,
      blocksChecked: this.#blocks,
      bytesChecked: this.#bytes,
      damagedBlocks: this.#damaged,
      sourceMismatches: this.#mismatches,
      incomplete,
      valid: !damaged,
    };
  }

  async #check(checksum: Buffer, ref: BlobRef | undefined, length: number): Promise<Verdict> {
    const key = checksum.toString('hex');
    const known = this.#verdicts.get(key);
    if (known) return known;
    const verdict = ref && ref.valid && (await this.#blobIsSound(ref, length)) ? 'ok' : 'damaged';
    if (verdict === 'damaged' && ref) {
      const versions = await this.#ctx.metadata.invalidateBlob(checksum, ref.uid);
      this.#ctx.events.publish({ kind: 'blob.invalid', blobUid: ref.uid, checksum: key, versions });
    }
    this.#verdicts.set(key, verdict);
    return verdict;
  }

  async #blobIsSound(ref: BlobRef, length: number): Promise<boolean> {
    try {
      if (!this.#deep) {
        // A plain blob's size is known; a compressed or encrypted one's framing is checked by
        // reading it (its header against its length), without decoding it.
        const size = (await this.#ctx.blobs.stat(ref.uid))?.size;
        if (size === undefined) return false;
        if (size === BLOB_HEADER_LENGTH + length) return true;
        this.#ctx.codec.checkFraming(ref.uid, await this.#ctx.blobs.get(ref.uid));
        return true;
      }
      return await this.#decodes(ref, length);
    } catch (err) {
      // Missing, truncated or unsound blobs are damage; a store that is down or a key we lack is not.
      if (isDamage(err)) return false;
      throw err;
    }
  }

  async #decodes(ref: BlobRef, length: number): Promise<boolean> {
    const data = await this.#ctx.codec.decode(ref.uid, await this.#ctx.blobs.get(ref.uid));
    return data.length === length && this.#ctx.hasher.digest(data).equals(ref.checksum);
  }

  async #compareSource(id: number, checksum: Buffer, length: number, buf: Buffer): Promise<void> {
    const got = await (this.#source as BlockSource).read(id * this.#ctx.config.blockSize, length, buf);
    const data = buf.subarray(0, got);
    const same = got === length && (isSparseDigest(checksum) ? isZero(data) : this.#ctx.hasher.digest(data).equals(checksum));
    if (!same) this.#mismatches.push(id);
  }
}
