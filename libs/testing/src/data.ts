/** Test data: images built block by block from a compact description, in temporary directories. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One block: 'r' random, 'z' zero, a number n = a copy of block n, or explicit bytes. */
export type BlockSpec = 'r' | 'z' | number | Buffer;

export function buildImage(specs: readonly BlockSpec[], blockSize: number, tailBytes = 0): Buffer {
  const image = Buffer.alloc(specs.length * blockSize + tailBytes);
  specs.forEach((spec, i) => {
    const at = i * blockSize;
    if (spec === 'r') randomBytes(blockSize).copy(image, at);
    else if (typeof spec === 'number') image.copy(image, at, spec * blockSize, (spec + 1) * blockSize);
    else if (Buffer.isBuffer(spec)) spec.copy(image, at, 0, blockSize);
  });
  if (tailBytes > 0) randomBytes(tailBytes).copy(image, specs.length * blockSize);
  return image;
}

/**
 * Where `actual` differs from `expected`, block by block, for an assertion's message: each block
 * that differs, and whether it reads as zeros or as another block of `expected` (a hole left
 * unwritten, a block written at the wrong place). Empty when they are equal.
 */
export function differingBlocks(expected: Buffer, actual: Buffer, blockSize: number, limit = 16): string[] {
  const out: string[] = [];
  const blocks = Math.ceil(Math.max(expected.length, actual.length) / blockSize);
  const block = (b: Buffer, i: number): Buffer => b.subarray(i * blockSize, (i + 1) * blockSize);
  for (let i = 0; i < blocks && out.length < limit; i++) {
    const [want, got] = [block(expected, i), block(actual, i)];
    if (want.equals(got)) continue;
    let what = 'other bytes';
    if (got.length !== want.length) what = `${got.length} of ${want.length} bytes`;
    else if (got.every((v) => v === 0)) what = 'zeros';
    else {
      for (let j = 0; j < blocks; j++) if (j !== i && block(expected, j).equals(got)) what = `block ${j}'s bytes`;
    }
    out.push(`block ${i}: ${what}`);
  }
  return out;
}

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  url(name: string): string;
  read(name: string): Promise<Buffer>;
  remove(): Promise<void>;
}

export async function tempDir(prefix = 'blockvault-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    file: (name) => join(path, name),
    url: (name) => `file://${join(path, name)}`,
    read: (name) => readFile(join(path, name)),
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/** Overwrites `length` bytes at `offset` of a file with `data` (or random bytes). */
export async function overwrite(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}
