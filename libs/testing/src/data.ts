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
