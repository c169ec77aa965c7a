/** Benchmark data: a mixed image like PERFORMANCE.md's, and a sparse 1 TiB volume. */
import { randomBytes, randomInt } from 'node:crypto';
import { open } from 'node:fs/promises';

export const BLOCK = 4 * 1024 * 1024;

export interface Hint {
  offset: number;
  length: number;
  exists: string;
}

function semiCompressible(): Buffer {
  // Random 4 KiB pages alternating with runs of repeated text: zstd-1 makes it about half.
  const b = Buffer.alloc(BLOCK);
  const text = Buffer.from('blockvault semi-compressible filler; ');
  for (let off = 0; off < BLOCK; off += 8192) {
    randomBytes(4096).copy(b, off);
    for (let t = off + 4096; t < off + 8192; t += text.length) text.copy(b, t, 0, Math.min(text.length, off + 8192 - t));
  }
  return b;
}

/** 2 GiB at the default size: 40% random, 20% zero, 15% semi-compressible, 25% duplicates. */
export async function mixedImage(path: string, blocks: number): Promise<void> {
  const fh = await open(path, 'w');
  const originals: Buffer[] = [];
  for (let i = 0; i < blocks; i++) {
    const k = i % 20;
    let data: Buffer;
    if (k < 8) {
      data = randomBytes(BLOCK);
      if (originals.length < 64) originals.push(data);
    } else if (k < 12) data = Buffer.alloc(BLOCK);
    else if (k < 15) data = semiCompressible();
    else data = originals[randomInt(originals.length)] as Buffer;
    await fh.write(data, 0, BLOCK, i * BLOCK);
  }
  await fh.close();
}

/** Overwrites `count` distinct random blocks (not in `avoid`) with random data; returns hints. */
export async function changeBlocks(
  path: string,
  blocks: number,
  count: number,
  avoid = new Set<number>(),
): Promise<{ hints: Hint[]; changed: Set<number> }> {
  const fh = await open(path, 'r+');
  const changed = new Set<number>();
  while (changed.size < count) {
    const b = randomInt(blocks);
    if (!avoid.has(b)) changed.add(b);
  }
  const hints: Hint[] = [];
  for (const b of [...changed].sort((x, y) => x - y)) {
    await fh.write(randomBytes(BLOCK), 0, BLOCK, b * BLOCK);
    hints.push({ offset: b * BLOCK, length: BLOCK, exists: 'true' });
  }
  await fh.close();
  return { hints, changed };
}

/** A sparse file of `sizeBytes` with nothing allocated. */
export async function sparseFile(path: string, sizeBytes: number): Promise<void> {
  const fh = await open(path, 'w');
  await fh.truncate(sizeBytes);
  await fh.close();
}
