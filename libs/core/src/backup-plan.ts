/**
 * What a backup does with each block: read it from the source, record it as sparse, or take it
 * from the base version without reading. Pure rules, no I/O.
 */
import { SegmentLayout } from './block-map.ts';
import { BlockHint } from './hints.ts';
import { blockLength, type Version } from './model.ts';

export const Action = { Read: 0, Sparse: 1, Base: 2 } as const;
export type Action = (typeof Action)[keyof typeof Action];

export interface PlanInput {
  readonly sizeBytes: number;
  readonly blockSize: number;
  /** Per-block classes from the hints, or undefined when there are none (read everything). */
  readonly hints: Uint8Array | undefined;
  readonly base: Version | undefined;
}

export class BackupPlan {
  readonly layout: SegmentLayout;
  readonly #input: PlanInput;

  constructor(input: PlanInput, blocksPerSegment: number, digestLength: number) {
    this.#input = input;
    this.layout = new SegmentLayout(Math.ceil(input.sizeBytes / input.blockSize), blocksPerSegment, digestLength);
  }

  get blocks(): number {
    return this.layout.blocks;
  }

  blockLength(id: number): number {
    return blockLength(id, this.#input.sizeBytes, this.#input.blockSize);
  }

  /** True when the base holds this block at the same length (a changed last block is new). */
  baseCovers(id: number): boolean {
    const base = this.#input.base;
    return base !== undefined && id < base.size && blockLength(id, base.sizeBytes, this.#input.blockSize) === this.blockLength(id);
  }

  action(id: number): Action {
    const hints = this.#input.hints;
    if (!hints) return Action.Read;
    const hint = hints[id];
    if (hint === BlockHint.Read) return Action.Read;
    if (hint === BlockHint.Sparse) return Action.Sparse;
    if (!this.#input.base) return Action.Sparse; // hints without a base: unnamed blocks are unallocated
    return this.baseCovers(id) ? Action.Base : Action.Read;
  }

  /** True when every block of the segment comes from the base segment of the same shape. */
  segmentIsUntouched(segNo: number, baseLayout: SegmentLayout | undefined): boolean {
    if (!this.#input.hints || !baseLayout || segNo >= baseLayout.segments) return false;
    if (baseLayout.blocksIn(segNo) !== this.layout.blocksIn(segNo)) return false;
    const first = this.layout.firstBlock(segNo);
    const end = first + this.layout.blocksIn(segNo);
    // The last block of a segment is the only one whose length can differ from the base's.
    return this.#input.hints.subarray(first, end).every((h) => h === BlockHint.Untouched) && this.baseCovers(end - 1);
  }

  /**
   * The blocks the sanity check re-reads: about half from the start of the untouched list and
   * half at random from it (backy2 and SEMANTICS.md), `count` in all.
   */
  sanityCheckBlocks(count: number, random: () => number): number[] {
    if (!this.#input.hints || !this.#input.base) return [];
    const untouched: number[] = [];
    for (let id = 0; id < this.blocks; id++) if (this.action(id) === Action.Base) untouched.push(id);
    const head = Math.min(Math.ceil(count / 2), untouched.length);
    const rest = untouched.slice(head);
    const picks = Math.min(count - head, rest.length);
    // A partial Fisher-Yates shuffle: `picks` distinct random blocks from the rest.
    for (let i = 0; i < picks; i++) {
      const j = i + Math.floor(random() * (rest.length - i));
      [rest[i], rest[j]] = [rest[j] as number, rest[i] as number];
    }
    return [...untouched.slice(0, head), ...rest.slice(0, picks)].sort((a, b) => a - b);
  }
}
