import { isSparseDigest } from './block-map.ts';
import type { Hasher } from './hash.ts';
import type { BlobRef } from './model.ts';
import type { SegmentEntry } from './ports.ts';

/**
 * One segment of a version being written: its digests fill in as block tasks finish (in any
 * order); `completion` resolves to the segment's entry once every block is recorded.
 */
export class SegmentBuilder {
  readonly segNo: number;
  readonly data: Buffer;
  /** Blobs written by this run that the segment references, by hex checksum. */
  readonly newBlobs = new Map<string, BlobRef>();
  /** In-flight dedup entries this segment created (dropped once it is committed). */
  readonly ownedKeys: string[] = [];
  readonly completion: Promise<SegmentEntry>;
  readonly #digestLength: number;
  readonly #hasher: Hasher;
  #pending = 0;
  #sealed = false;
  #resolve!: (entry: SegmentEntry) => void;
  #reject!: (err: unknown) => void;

  constructor(segNo: number, blocks: number, digestLength: number, hasher: Hasher) {
    this.segNo = segNo;
    this.data = Buffer.alloc(blocks * digestLength);
    this.#digestLength = digestLength;
    this.#hasher = hasher;
    this.completion = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failed backup abandons the segment; nobody may be awaiting it then.
    this.completion.catch((_abandoned: unknown) => undefined);
  }

  set(index: number, digest: Uint8Array): void {
    this.data.set(digest, index * this.#digestLength);
  }

  isSparse(index: number): boolean {
    return isSparseDigest(this.data.subarray(index * this.#digestLength, (index + 1) * this.#digestLength));
  }

  ownInflight(key: string): void {
    this.ownedKeys.push(key);
  }

  begin(): void {
    this.#pending++;
  }

  end(): void {
    this.#pending--;
    this.#maybeComplete();
  }

  abort(err: unknown): void {
    this.#reject(err);
  }

  /** No more blocks will begin. */
  sealed(): void {
    this.#sealed = true;
    this.#maybeComplete();
  }

  #maybeComplete(): void {
    if (!this.#sealed || this.#pending > 0) return;
    let sparseBlocks = 0;
    for (let off = 0; off < this.data.length; off += this.#digestLength) {
      if (isSparseDigest(this.data.subarray(off, off + this.#digestLength))) sparseBlocks++;
    }
    this.#resolve({ segNo: this.segNo, segId: this.#hasher.digest(this.data), sparseBlocks, data: this.data });
  }
}
