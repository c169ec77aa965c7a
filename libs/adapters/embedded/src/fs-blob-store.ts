/**
 * BlobStore on the local filesystem: `<root>/<uid[0:2]>/<uid[2:4]>/<uid>`. A put writes a
 * temporary file, fsyncs it, renames it into place and fsyncs the directory, so a blob that a
 * put resolved for survives a crash. Block-sized blobs are written with O_DIRECT where the file
 * system allows (direct-write.ts), so that a backup does not fill the page cache.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobNotFoundError, DIRECT_MIN_BYTES, InvalidArgumentError, UnavailableError, type BlobStore } from '@blockvault/core';
import { DirectUnsupportedError, writeFileDirect } from './direct-write.ts';

const KEY_PATTERN = /^[0-9a-f]{8,64}$/;
/** Documents beside the blocks: version metadata copies and wrapped data keys. */
const META_PATTERN = /^(versions|keys)\/[A-Za-z0-9_.:-]{1,128}$/;
const DOCUMENT_PREFIX = /^(versions|keys)\//;
const SHARD = /^[0-9a-f]{2}$/;

export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #dirs = new Set<string>();
  /** Whether blobs are written past the page cache (see direct-write.ts); off once the file system refuses. */
  #direct: boolean;

  constructor(root: string, options: { direct?: boolean } = {}) {
    this.root = root;
    this.#direct = options.direct ?? true;
  }

  #dir(key: string): string {
    if (META_PATTERN.test(key)) return join(this.root, key.slice(0, key.indexOf('/')));
    if (!KEY_PATTERN.test(key)) throw new InvalidArgumentError(`invalid blob key ${JSON.stringify(key)}`);
    return join(this.root, key.slice(0, 2), key.slice(2, 4));
  }

  #path(key: string): string {
    return join(this.#dir(key), META_PATTERN.test(key) ? key.slice(key.indexOf('/') + 1) : key);
  }

  async put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    const dir = this.#dir(key);
    try {
      if (!this.#dirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.#dirs.add(dir);
      }
      const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
      try {
        await this.#write(tmp, chunks);
        await rename(tmp, this.#path(key));
      } catch (err) {
        // A partial file (a full disk, say) would hold its space until someone found it.
        await unlink(tmp).catch((_gone: unknown) => undefined);
        throw err;
      }
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      const full = ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '');
      const why = full
        ? `the file system is full (${(err as NodeJS.ErrnoException).code}); free space, then continue the backup`
        : (err as Error).message;
      throw new UnavailableError(`cannot store blob ${key} under ${this.root}: ${why}`, { cause: err });
    }
  }

  /** Creates `path` holding `chunks`, durable once it resolves: block-sized blobs past the page cache where the file system allows. */
  async #write(path: string, chunks: readonly Uint8Array[]): Promise<void> {
    if (this.#direct && chunks.reduce((n, c) => n + c.byteLength, 0) >= DIRECT_MIN_BYTES) {
      try {
        if (await writeFileDirect(path, chunks)) return;
      } catch (err) {
        if (!(err instanceof DirectUnsupportedError)) throw err;
        this.#direct = false;
        await unlink(path).catch((_gone: unknown) => undefined);
      }
    }
    const fh = await open(path, 'w', 0o600);
    try {
      await fh.writev(chunks as Uint8Array[]);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      // One read of the whole file: readFile reads in 512 KiB pieces, a threadpool round trip each.
      const fh = await open(this.#path(key), 'r');
      try {
        const { size } = await fh.stat();
        const data = Buffer.allocUnsafeSlow(size);
        let got = 0;
        while (got < size) {
          const { bytesRead } = await fh.read(data, got, size - got, got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === size ? data : data.subarray(0, got);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key, { cause: err });
      throw new UnavailableError(`cannot read blob ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.#path(key))).size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new UnavailableError(`cannot stat blob ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await unlink(this.#path(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new UnavailableError(`cannot delete blob ${key}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  async *list(prefix = ''): AsyncIterable<string> {
    const ns = DOCUMENT_PREFIX.exec(prefix)?.[1];
    if (ns) {
      for (const name of await entries(join(this.root, ns))) {
        if (!name.startsWith('.tmp-') && `${ns}/${name}`.startsWith(prefix)) yield `${ns}/${name}`;
      }
      return;
    }
    for (const a of await entries(this.root)) {
      if (!SHARD.test(a) || !a.startsWith(prefix.slice(0, 2))) continue;
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
        yield { key, modified: (await stat(this.#path(key))).mtime };
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
