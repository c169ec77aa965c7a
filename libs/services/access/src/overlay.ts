/**
 * A copy-on-write overlay over a version for one writable NBD connection: written blocks live in
 * a temporary file (deleted when the connection ends), the version is never touched. A block is
 * copied into the overlay whole before its first write, so reads see the version's bytes around
 * the written ones.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExportedVersion } from './nbd-server.ts';

/** What a connection reads from (a version) and, when writable, writes to (its overlay). */
export interface BlockSource {
  readonly sizeBytes: number;
  read(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Writes `data` at `offset`, or that many zeros when it is a length. */
  write?(offset: number, data: Buffer | number): Promise<void>;
}

export class Overlay implements BlockSource {
  readonly #base: ExportedVersion;
  readonly #blockSize: number;
  readonly #dir: string;
  readonly #fh: FileHandle;
  /** Blocks held in the overlay file. */
  readonly #dirty = new Set<number>();
  /** Operations one after another: a block's copy-in must finish before anything else uses it. */
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(base: ExportedVersion, blockSize: number, dir: string, fh: FileHandle) {
    this.#base = base;
    this.#blockSize = blockSize;
    this.#dir = dir;
    this.#fh = fh;
  }

  static async create(base: ExportedVersion, blockSize: number, parent = tmpdir()): Promise<Overlay> {
    const dir = await mkdtemp(join(parent, 'blockvault-overlay-'));
    const fh = await open(join(dir, 'overlay'), 'w+', 0o600);
    return new Overlay(base, blockSize, dir, fh);
  }

  get sizeBytes(): number {
    return this.#base.sizeBytes;
  }

  /** Blocks written so far. */
  get dirtyBlocks(): number {
    return this.#dirty.size;
  }

  read(offset: number, length: number, into: Buffer = Buffer.allocUnsafe(length)): Promise<Buffer> {
    return this.#serial(async () => {
      for (const { id, start, end } of this.#blocks(offset, length)) {
        const part = into.subarray(start - offset, end - offset);
        if (this.#dirty.has(id)) await this.#readFile(part, start);
        else await this.#base.read(start, end - start, part);
      }
      return into.subarray(0, length);
    });
  }

  /** Writes `data` at `offset`; zeros when `data` is a length (TRIM, WRITE_ZEROES). */
  write(offset: number, data: Buffer | number): Promise<void> {
    const length = typeof data === 'number' ? data : data.length;
    return this.#serial(async () => {
      for (const { id, start, end } of this.#blocks(offset, length)) {
        if (!this.#dirty.has(id)) {
          const blockStart = id * this.#blockSize;
          const blockLength = Math.min(this.#blockSize, this.sizeBytes - blockStart);
          await this.#writeFile(await this.#base.read(blockStart, blockLength), blockStart);
          this.#dirty.add(id);
        }
        await this.#writeFile(typeof data === 'number' ? Buffer.alloc(end - start) : data.subarray(start - offset, end - offset), start);
      }
    });
  }

  /** Ends the overlay: its file is deleted, every write is gone. */
  async discard(): Promise<void> {
    await this.#chain.catch((_ended: unknown) => undefined);
    await this.#fh.close();
    await rm(this.#dir, { recursive: true, force: true });
  }

  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(step, step);
    this.#chain = run.catch((_reportedToCaller: unknown) => undefined);
    return run;
  }

  *#blocks(offset: number, length: number): Generator<{ id: number; start: number; end: number }> {
    for (let at = offset; at < offset + length;) {
      const id = Math.floor(at / this.#blockSize);
      const end = Math.min(offset + length, (id + 1) * this.#blockSize);
      yield { id, start: at, end };
      at = end;
    }
  }

  async #readFile(into: Buffer, position: number): Promise<void> {
    for (let got = 0; got < into.length;) {
      const { bytesRead } = await this.#fh.read(into, got, into.length - got, position + got);
      if (bytesRead === 0) {
        into.fill(0, got);
        return;
      }
      got += bytesRead;
    }
  }

  async #writeFile(data: Buffer, position: number): Promise<void> {
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await this.#fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }
}
