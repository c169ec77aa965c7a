/**
 * BlobStore on the local filesystem: `<root>/<uid[0:2]>/<uid[2:4]>/<uid>`. A put writes a
 * temporary file, fsyncs it, renames it into place and fsyncs the directory, so a blob that a
 * put resolved for survives a crash.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobNotFoundError, InvalidArgumentError, UnavailableError, type BlobStore } from '@blockvault/core';

const KEY_PATTERN = /^[0-9a-f]{8,64}$/;

export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #dirs = new Set<string>();

  constructor(root: string) {
    this.root = root;
  }

  #dir(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new InvalidArgumentError(`invalid blob key ${JSON.stringify(key)}`);
    return join(this.root, key.slice(0, 2), key.slice(2, 4));
  }

  async put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    const dir = this.#dir(key);
    try {
      if (!this.#dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.#dirs.add(dir);
      }
      const tmp = join(dir, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writev(chunks as Uint8Array[]);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, key));
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      throw new UnavailableError(`cannot store blob ${key} under ${this.root}: ${(err as Error).message}`, { cause: err });
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(join(this.#dir(key), key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key, { cause: err });
      throw new UnavailableError(`cannot read blob ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await unlink(join(this.#dir(key), key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UnavailableError(`cannot delete blob ${key}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  async *list(prefix = ''): AsyncIterable<string> {
    for (const a of await entries(this.root)) {
      if (!a.startsWith(prefix.slice(0, 2))) continue;
      for (const b of await entries(join(this.root, a))) {
        if (!(a + b).startsWith(prefix.slice(0, 4))) continue;
        for (const key of await entries(join(this.root, a, b))) {
          if (!key.startsWith('.tmp-') && key.startsWith(prefix)) yield key;
        }
      }
    }
  }

  async *listWithDates(prefix = ''): AsyncIterable<{ key: string; modified: Date }> {
    for await (const key of this.list(prefix)) {
      try {
        yield { key, modified: (await stat(join(this.#dir(key), key))).mtime };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
