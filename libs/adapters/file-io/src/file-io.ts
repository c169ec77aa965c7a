/** `file:///abs/path` sources and restore targets: image files and block devices. */
import { execFile } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  alignedSlots,
  DIRECT_ALIGN,
  DIRECT_MIN_BYTES,
  NotFoundError,
  PermissionDeniedError,
  SourceNotFoundError,
  TargetExistsError,
  UnavailableError,
  UnsupportedUrlError,
  zeroBuffer,
  type BlockSource,
  type BlockTarget,
  type IoModule,
  type OpenTargetOptions,
} from '@blockvault/core';

const run = promisify(execFile);

function pathOf(url: URL): string {
  if (url.host !== '') throw new UnsupportedUrlError(url.href, 'file URLs name a local path: file:///abs/path (three slashes)');
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new UnsupportedUrlError(url.href, (err as Error).message);
  }
}

async function deviceSize(path: string): Promise<number> {
  try {
    const { stdout } = await run('blockdev', ['--getsize64', path]);
    return Number(stdout.trim());
  } catch (err) {
    throw new UnavailableError(`cannot read the size of block device ${path} (blockdev --getsize64): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function translate(err: unknown, path: string, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new SourceNotFoundError(`${what} ${path} does not exist`);
  if (code === 'EACCES' || code === 'EPERM') return new UnavailableError(`${what} ${path}: permission denied`, { cause: err });
  if (code === 'EISDIR') return new UnsupportedUrlError(`file://${path}`, 'is a directory');
  return new UnavailableError(`${what} ${path}: ${(err as Error).message}`, { cause: err });
}

class FileSource implements BlockSource {
  readonly url: string;
  readonly sizeBytes: number;
  readonly #fh: FileHandle;

  constructor(url: string, fh: FileHandle, sizeBytes: number) {
    this.url = url;
    this.#fh = fh;
    this.sizeBytes = sizeBytes;
  }

  async read(offset: number, length: number, into: Buffer): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#fh.read(into, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  close(): Promise<void> {
    return this.#fh.close();
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

class FileTarget implements BlockTarget {
  readonly url: string;
  readonly #fh: FileHandle;
  readonly #regular: boolean;
  /** A regular file emptied when opened: every byte not written reads as zero once finish sets its size. */
  readonly #empty: boolean;
  /**
   * The same file opened with O_DIRECT, when the file system allows it: aligned block writes go
   * past the page cache (see writeDirect). Writes through either descriptor reach the same file;
   * the kernel keeps the page cache coherent with direct writes.
   */
  readonly #direct: FileHandle | undefined;
  /** The file system refused a direct write: every later one goes through the cache. */
  #directRefused = false;

  constructor(url: string, fh: FileHandle, regular: boolean, empty: boolean, direct: FileHandle | undefined) {
    this.url = url;
    this.#fh = fh;
    this.#regular = regular;
    this.#empty = empty;
    this.#direct = direct;
  }

  /** Zeros: nothing to write into a file that started empty (a hole reads as zeros); written elsewhere (a device, a continued restore). */
  async zero(offset: number, length: number): Promise<void> {
    if (this.#empty) return;
    await this.write(offset, zeroBuffer(length));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (
      this.#direct &&
      !this.#directRefused &&
      data.length >= DIRECT_MIN_BYTES &&
      offset % DIRECT_ALIGN === 0 &&
      data.length % DIRECT_ALIGN === 0
    ) {
      if (await this.#writeDirect(this.#direct, offset, data)) return;
    }
    await writeAll(this.#fh, offset, data);
  }

  /**
   * A block restored past the page cache: copying 2 GiB into new page-cache pages is what bounds a
   * restore through the cache on this project's VMs (see test/bench/README.md), and nobody reads the
   * restored blocks soon. The block is copied into aligned memory first, as O_DIRECT needs.
   * False when the file system refuses the write (every later one goes through the cache too) or
   * no aligned memory could be had: the caller writes it through the cache.
   */
  async #writeDirect(fh: FileHandle, offset: number, data: Uint8Array): Promise<boolean> {
    const slot = alignedSlots.acquire(data.length);
    if (!slot) return false; // no aligned memory to be had now: this one goes through the cache
    try {
      slot.set(data);
      await writeAll(fh, offset, slot.subarray(0, data.length));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      // Other writes may be running on it: it is closed with the target, not now.
      this.#directRefused = true;
      return false;
    } finally {
      alignedSlots.release(slot);
    }
  }

  async finish(sizeBytes: number): Promise<void> {
    if (this.#regular) await this.#fh.truncate(sizeBytes);
    await this.#fh.sync();
  }

  async close(): Promise<void> {
    await this.#direct?.close();
    await this.#fh.close();
  }
}

async function writeAll(fh: FileHandle, offset: number, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
    done += bytesWritten;
  }
}

/** `path` opened again with O_DIRECT for aligned block writes; undefined where the file system refuses it. */
async function openDirect(path: string, noFollow: number): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_RDWR | constants.O_DIRECT | noFollow);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

export interface FileIoOptions {
  /**
   * Directories (or single device or file paths) sources and targets must lie in, after
   * symlinks are resolved; undefined: anywhere this process may read and write.
   */
  readonly roots?: readonly string[];
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** The real path of `path`, or of its directory plus its name when it does not exist yet. */
async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // A parent that does not exist either resolves to itself: opening the target then reports it.
    return resolve(
      await realpath(dirname(path)).catch((e: unknown) =>
        (e as NodeJS.ErrnoException).code === 'ENOENT' ? dirname(path) : Promise.reject(e),
      ),
      basename(path),
    );
  }
}

export class FileIo implements IoModule {
  readonly scheme = 'file';
  readonly #roots: readonly string[] | undefined;

  constructor(options: FileIoOptions = {}) {
    this.#roots = options.roots?.map((r) => resolve(r));
  }

  /** Refuses paths outside the roots, following symlinks, before anything is opened. */
  async check(url: URL): Promise<void> {
    const path = pathOf(url);
    if (!this.#roots) return;
    const realRoots = await this.#realRoots();
    if (![...this.#roots, ...realRoots].some((r) => within(path, r))) throw this.#outside(url.href);
    let real: string;
    try {
      real = await realPathOf(path);
    } catch (err) {
      throw translate(err, path, 'path');
    }
    if (!realRoots.some((r) => within(real, r))) throw this.#outside(url.href, real);
  }

  async #realRoots(): Promise<string[]> {
    // A root that does not exist (yet) confines to its own path.
    return Promise.all(
      (this.#roots ?? []).map((r) =>
        realpath(r).catch((e: unknown) => ((e as NodeJS.ErrnoException).code === 'ENOENT' ? r : Promise.reject(e))),
      ),
    );
  }

  #outside(href: string, real?: string): PermissionDeniedError {
    return new PermissionDeniedError(
      `${href}${real ? ` (really ${real})` : ''} is outside this reader's I/O roots (${(this.#roots ?? []).join(', ')})`,
    );
  }

  /** After opening: the file really opened (no symlink swapped in meanwhile) lies in the roots. */
  async #verifyOpened(fh: FileHandle, href: string): Promise<void> {
    if (!this.#roots) return;
    const real = await readlink(`/proc/self/fd/${fh.fd}`);
    const roots = await this.#realRoots();
    if (!roots.some((r) => within(real, r))) {
      await fh.close();
      throw this.#outside(href, real);
    }
  }

  async openSource(url: URL): Promise<BlockSource> {
    await this.check(url);
    const path = pathOf(url);
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY);
    } catch (err) {
      throw translate(err, path, 'source');
    }
    await this.#verifyOpened(fh, url.href);
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new UnsupportedUrlError(url.href, 'is a directory');
      const size = st.isBlockDevice() ? await deviceSize(path) : st.size;
      return new FileSource(url.href, fh, size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async openTarget(url: URL, options: OpenTargetOptions): Promise<BlockTarget> {
    await this.check(url);
    const path = pathOf(url);
    let existing: Stats | undefined;
    try {
      existing = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw translate(err, path, 'target');
    }
    if (existing?.isDirectory()) throw new UnsupportedUrlError(url.href, 'is a directory');
    if (existing && !options.force && !options.resume) throw new TargetExistsError(url.href);
    if (!existing && options.resume)
      throw new NotFoundError(`target ${path} does not exist; a restore can only continue into the target it started`);
    const regular = !existing || existing.isFile();
    // Confined: never follow a symlink swapped in as the last component, and truncate only
    // once the opened file is known to lie in the roots.
    const noFollow = this.#roots ? constants.O_NOFOLLOW : 0;
    const fresh = !options.resume && regular;
    let fh: FileHandle;
    try {
      fh = await open(path, (fresh ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR) | noFollow, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw this.#outside(url.href);
      throw translate(err, path, 'target');
    }
    await this.#verifyOpened(fh, url.href);
    // A fresh restore into a regular file starts empty, so that holes left by --sparse read as zeros.
    let direct: FileHandle | undefined;
    try {
      if (fresh) await fh.truncate(0);
      // The same inode, checked: a path swapped between the two opens gets no direct writes.
      direct = await openDirect(path, noFollow);
      if (direct && !sameFile(await direct.stat(), await fh.stat())) {
        await direct.close();
        direct = undefined;
      }
    } catch (err) {
      await direct?.close();
      await fh.close();
      throw translate(err, path, 'target');
    }
    return new FileTarget(url.href, fh, regular, fresh, direct);
  }
}
