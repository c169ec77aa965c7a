/**
 * A version's block map, stored as segments: runs of `blocksPerSegment` block checksums
 * (digestLength bytes each; all zero = sparse). A segment is content-addressed (its id is the
 * hash of its bytes), so versions share unchanged segments and an incremental backup writes only
 * the segments its changed blocks fall in. 1 TiB at 4 MiB blocks and 32-byte digests is 8 MiB of
 * segments for a first version, plus 32 bytes of pointer per 256 blocks (see libs/core/README.md).
 */
import type { Hasher } from './hash.ts';

export interface SegmentPointer {
  readonly segId: Buffer;
  /** Sparse blocks in the segment, so that version totals need no segment reads. */
  readonly sparseBlocks: number;
}

export class SegmentLayout {
  readonly blocks: number;
  readonly blocksPerSegment: number;
  readonly digestLength: number;

  constructor(blocks: number, blocksPerSegment: number, digestLength: number) {
    this.blocks = blocks;
    this.blocksPerSegment = blocksPerSegment;
    this.digestLength = digestLength;
  }

  get segments(): number {
    return Math.ceil(this.blocks / this.blocksPerSegment);
  }

  firstBlock(segNo: number): number {
    return segNo * this.blocksPerSegment;
  }

  blocksIn(segNo: number): number {
    return Math.min(this.blocksPerSegment, this.blocks - segNo * this.blocksPerSegment);
  }

  segmentOf(blockId: number): number {
    return Math.floor(blockId / this.blocksPerSegment);
  }
}

export function digestAt(segment: Buffer, index: number, digestLength: number): Buffer {
  return segment.subarray(index * digestLength, (index + 1) * digestLength);
}

export function isSparseDigest(digest: Uint8Array): boolean {
  for (const byte of digest) if (byte !== 0) return false;
  return true;
}

export function countSparse(segment: Buffer, digestLength: number): number {
  let sparse = 0;
  for (let off = 0; off < segment.length; off += digestLength) {
    if (isSparseDigest(segment.subarray(off, off + digestLength))) sparse++;
  }
  return sparse;
}

export function segmentId(hasher: Hasher, segment: Buffer): Buffer {
  return hasher.digest(segment);
}

/** True when the segment references one of the (few) checksums known to be invalid. */
export function referencesAny(segment: Buffer, digestLength: number, checksums: readonly Buffer[]): boolean {
  for (const c of checksums) {
    for (let at = segment.indexOf(c); at !== -1; at = segment.indexOf(c, at + 1)) {
      if (at % digestLength === 0) return true;
    }
  }
  return false;
}
