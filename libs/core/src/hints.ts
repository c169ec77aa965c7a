/**
 * Hints: which regions of a source changed since a base snapshot, in the JSON that
 * `rbd diff --whole-object [--from-snap X] --format=json` prints (one line or pretty-printed):
 * `[{"offset": N, "length": N, "exists": "true" | "false"}, ...]`.
 */
import { InvalidHintsError } from './errors.ts';

export interface Hint {
  readonly offset: number;
  readonly length: number;
  readonly exists: boolean;
}

/** What the hints say of each block. */
export const BlockHint = { Untouched: 0, Read: 1, Sparse: 2 } as const;

export function parseHints(text: string, origin = 'hints'): Hint[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidHintsError(`${origin}: not valid JSON (${(err as Error).message}); expected the output of \`rbd diff --format=json\``);
  }
  if (!Array.isArray(doc)) throw new InvalidHintsError(`${origin}: expected a JSON array of {offset, length, exists}`);
  return doc.map((entry: unknown, i) => parseHint(entry, `${origin}[${i}]`));
}

function parseHint(entry: unknown, where: string): Hint {
  if (typeof entry !== 'object' || entry === null) throw new InvalidHintsError(`${where}: expected an object`);
  const e = entry as Record<string, unknown>;
  const offset = toNonNegativeInteger(e['offset'], `${where}.offset`);
  const length = toNonNegativeInteger(e['length'], `${where}.length`);
  const exists = e['exists'];
  if (exists !== true && exists !== false && exists !== 'true' && exists !== 'false') {
    throw new InvalidHintsError(`${where}.exists: expected "true" or "false", got ${JSON.stringify(exists)}`);
  }
  return { offset, length, exists: exists === true || exists === 'true' };
}

function toNonNegativeInteger(value: unknown, where: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidHintsError(`${where}: expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Classifies every block. A block is read when any `exists: true` region touches it, or when an
 * `exists: false` region covers only part of it (its other bytes may hold data); it is sparse when
 * `exists: false` regions cover it entirely; otherwise it is untouched.
 * @throws InvalidHintsError when a region reaches past the end of the source
 */
export function classifyBlocks(hints: readonly Hint[], sizeBytes: number, blockSize: number): Uint8Array {
  const n = Math.ceil(sizeBytes / blockSize);
  const classes = new Uint8Array(n);
  for (const h of hints) {
    if (h.offset + h.length > sizeBytes) {
      throw new InvalidHintsError(
        `hint at offset ${h.offset} with length ${h.length} reaches past the end of the source (${sizeBytes} bytes); the hints belong to another volume or snapshot`,
      );
    }
  }
  for (const h of hints) {
    if (h.exists && h.length > 0) classes.fill(BlockHint.Read, firstBlock(h, blockSize), lastBlock(h, blockSize) + 1);
  }
  const covered = new Map<number, number>();
  for (const [start, end] of mergedRanges(hints.filter((h) => !h.exists))) {
    for (let b = Math.floor(start / blockSize); b * blockSize < end; b++) {
      const lo = Math.max(start, b * blockSize);
      const hi = Math.min(end, (b + 1) * blockSize);
      covered.set(b, (covered.get(b) ?? 0) + (hi - lo));
    }
  }
  for (const [b, bytes] of covered) {
    if (classes[b] === BlockHint.Read) continue;
    const length = Math.min(blockSize, sizeBytes - b * blockSize);
    classes[b] = bytes >= length ? BlockHint.Sparse : BlockHint.Read;
  }
  return classes;
}

function firstBlock(h: Hint, blockSize: number): number {
  return Math.floor(h.offset / blockSize);
}

function lastBlock(h: Hint, blockSize: number): number {
  return Math.floor((h.offset + h.length - 1) / blockSize);
}

/** Sorted, merged [start, end) byte ranges; a whole-volume range of 1 TiB stays one range. */
function mergedRanges(hints: readonly Hint[]): [number, number][] {
  const ranges = hints
    .filter((h) => h.length > 0)
    .map((h): [number, number] => [h.offset, h.offset + h.length])
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}
