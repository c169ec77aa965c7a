/**
 * Random access to a version: any byte range, served from its block map and its blobs on
 * demand (the NBD export and the HTTP range endpoint read through it).
 *
 * - The block map comes one segment at a time, when a read first needs it: the first read of a
 *   1 TiB version costs one segment, not a scan of the version.
 * - Blobs are fetched, decoded and checked against the block's checksum as reads need them, and
 *   kept in an LRU cache bounded in bytes; concurrent reads of one block share one fetch.
 * - Sequential reads fetch the next blocks ahead, into the cache.
 * - Sparse blocks are answered with zeros, without I/O.
 * - A damaged block (missing or unsound blob) fails the reads that touch it with a
 *   DamagedBlocksError, is marked invalid like everywhere else (in every version that uses it),
 *   and reads elsewhere go on.
 */
import { digestAt, isSparseDigest, SegmentLayout, type SegmentPointer } from './block-map.ts';
import type { EngineContext } from './context.ts';
import { blobRefs } from './restore.ts';
import { DamagedBlocksError, InvalidArgumentError, InvalidVersionStateError, isDamage } from './errors.ts';
import { blockLength, type BlobRef, type Version } from './model.ts';

export interface VersionReaderOptions {
  /** Decoded blocks kept for later reads, in bytes. @default 64 MiB */
  readonly cacheBytes?: number;
  /** Blocks fetched ahead of a sequential read. @default 2 */
  readonly readAhead?: number;
}

export const DEFAULT_READER_CACHE_BYTES = 64 * 1024 * 1024;
/** Block-map segments kept loaded (with their blob refs). */
const MAX_SEGMENTS = 256;

interface SegmentEntry {
  readonly digests: Buffer;
  /** Blob refs of the segment's non-sparse digests, by hex checksum. */
  readonly refs: Map<string, BlobRef>;
}

export class VersionReader {
  readonly version: Version;
  readonly #ctx: EngineContext;
  readonly #layout: SegmentLayout;
  readonly #pointers: Map<number, SegmentPointer>;
  readonly #segments = new Map<number, Promise<SegmentEntry>>();
  /** Decoded blocks, least recently used first (a Map keeps insertion order). */
  readonly #cache = new Map<number, Buffer>();
  #cached = 0;
  readonly #fetching = new Map<number, Promise<Buffer>>();
  readonly #cacheBytes: number;
  readonly #readAhead: number;
  /** Where the last read ended: a read starting there is sequential. */
  #lastEnd = -1;
  /** Blocks found damaged, so that every later read of them fails at once. */
  readonly #damaged = new Set<number>();

  private constructor(ctx: EngineContext, version: Version, pointers: Map<number, SegmentPointer>, options: VersionReaderOptions) {
    this.#ctx = ctx;
    this.version = version;
    this.#layout = new SegmentLayout(version.size, ctx.config.blocksPerSegment, ctx.hasher.digestLength);
    this.#pointers = pointers;
    this.#cacheBytes = options.cacheBytes ?? DEFAULT_READER_CACHE_BYTES;
    this.#readAhead = options.readAhead ?? 2;
  }

  /** Opens a complete version; an incomplete or invalid one is refused. */
  static async open(ctx: EngineContext, uid: string, options: VersionReaderOptions = {}): Promise<VersionReader> {
    const version = await ctx.metadata.getVersion(uid);
    const layout = new SegmentLayout(version.size, ctx.config.blocksPerSegment, ctx.hasher.digestLength);
    const pointers = await ctx.metadata.getVersionSegments(uid);
    if (pointers.size !== layout.segments) {
      throw new InvalidVersionStateError(`version ${uid} is incomplete (${pointers.size} of ${layout.segments} segments recorded)`);
    }
    if (!version.valid)
      throw new InvalidVersionStateError(`version ${uid} is not valid (damaged or incomplete); scrub it or choose another`);
    return new VersionReader(ctx, version, pointers, options);
  }

  get sizeBytes(): number {
    return this.version.sizeBytes;
  }

  /** Bytes of decoded blocks held in the cache now. */
  get cachedBytes(): number {
    return this.#cached;
  }

  /**
   * Reads `length` bytes at `offset` into `into` (or a new buffer).
   * @throws InvalidArgumentError past the end of the version
   * @throws DamagedBlocksError when a block of the range is damaged
   */
  async read(offset: number, length: number, into: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.sizeBytes) {
      throw new InvalidArgumentError(
        `read of ${length} bytes at ${offset} is outside version ${this.version.uid} (${this.sizeBytes} bytes)`,
      );
    }
    if (length === 0) return into.subarray(0, 0);
    const { blockSize } = this.#ctx.config;
    const first = Math.floor(offset / blockSize);
    const last = Math.floor((offset + length - 1) / blockSize);
    const sequential = offset === this.#lastEnd;
    this.#lastEnd = offset + length;
    const damaged: number[] = [];
    await Promise.all(
      Array.from({ length: last - first + 1 }, async (_, i) => {
        const id = first + i;
        const start = Math.max(offset, id * blockSize);
        const end = Math.min(offset + length, (id + 1) * blockSize);
        try {
          const block = await this.#block(id);
          if (block) block.copy(into, start - offset, start - id * blockSize, end - id * blockSize);
          else into.fill(0, start - offset, end - offset);
        } catch (err) {
          if (!(err instanceof DamagedBlocksError)) throw err;
          damaged.push(id);
        }
      }),
    );
    if (sequential) this.#prefetch(last + 1);
    if (damaged.length > 0)
      throw new DamagedBlocksError(
        `version ${this.version.uid}`,
        damaged.sort((a, b) => a - b),
      );
    return into.subarray(0, length);
  }

  /** Fetches the blocks after `from` into the cache, in the background; their failures surface when read. */
  #prefetch(from: number): void {
    for (let id = from; id < Math.min(from + this.#readAhead, this.version.size); id++) {
      if (!this.#cache.has(id) && !this.#fetching.has(id) && !this.#damaged.has(id)) {
        this.#block(id).catch((_reportedWhenRead: unknown) => undefined);
      }
    }
  }

  /** A block's bytes, or undefined for a sparse block. */
  async #block(id: number): Promise<Buffer | undefined> {
    if (this.#damaged.has(id)) throw new DamagedBlocksError(`version ${this.version.uid}`, [id]);
    const hit = this.#cache.get(id);
    if (hit) {
      this.#cache.delete(id);
      this.#cache.set(id, hit);
      return hit;
    }
    const segNo = this.#layout.segmentOf(id);
    const segment = await this.#segment(segNo);
    const checksum = digestAt(segment.digests, id - this.#layout.firstBlock(segNo), this.#layout.digestLength);
    if (isSparseDigest(checksum)) return undefined;
    let pending = this.#fetching.get(id);
    if (!pending) {
      pending = this.#fetch(id, checksum, segment.refs.get(checksum.toString('hex'))).finally(() => this.#fetching.delete(id));
      this.#fetching.set(id, pending);
    }
    return pending;
  }

  async #fetch(id: number, checksum: Buffer, ref: BlobRef | undefined): Promise<Buffer> {
    const length = blockLength(id, this.sizeBytes, this.#ctx.config.blockSize);
    let data: Buffer | undefined;
    if (ref) {
      try {
        data = await this.#ctx.codec.decode(ref.uid, await this.#ctx.blobs.get(ref.uid));
      } catch (err) {
        // Missing or unsound is damage; a store that is down or a key we lack is not.
        if (!isDamage(err)) throw err;
      }
    }
    if (!data || data.length !== length || !this.#ctx.hasher.digest(data).equals(checksum)) {
      this.#damaged.add(id);
      if (ref) {
        const versions = await this.#ctx.metadata.invalidateBlob(checksum, ref.uid);
        this.#ctx.events.publish({ kind: 'blob.invalid', blobUid: ref.uid, checksum: checksum.toString('hex'), versions });
      }
      throw new DamagedBlocksError(`version ${this.version.uid}`, [id]);
    }
    this.#remember(id, data);
    return data;
  }

  #remember(id: number, data: Buffer): void {
    if (data.length > this.#cacheBytes) return;
    this.#cache.set(id, data);
    this.#cached += data.length;
    for (const [oldest, block] of this.#cache) {
      if (this.#cached <= this.#cacheBytes) break;
      this.#cache.delete(oldest);
      this.#cached -= block.length;
    }
  }

  #segment(segNo: number): Promise<SegmentEntry> {
    let entry = this.#segments.get(segNo);
    if (!entry) {
      entry = this.#loadSegment(segNo);
      this.#segments.set(segNo, entry);
      // Bounded: a segment's digests and refs are small, a 1 TiB version has thousands.
      if (this.#segments.size > MAX_SEGMENTS) this.#segments.delete(this.#segments.keys().next().value as number);
      // A failed load (the store was down) is tried again by the next read.
      entry.catch((_retried: unknown) => this.#segments.delete(segNo));
    }
    return entry;
  }

  async #loadSegment(segNo: number): Promise<SegmentEntry> {
    const ptr = this.#pointers.get(segNo) as SegmentPointer;
    const [digests] = (await this.#ctx.metadata.getSegments([ptr.segId])) as [Buffer];
    const refs = await blobRefs(this.#ctx.metadata, [digests], this.#layout.digestLength);
    return { digests, refs };
  }
}
