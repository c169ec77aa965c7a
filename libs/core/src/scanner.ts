/**
 * The engine's own block scanner: reads through a BlockSource in this process, tells zero blocks
 * apart, hashes the others, and stores new ones through the engine's blob store. The reader
 * service runs the same one where the data is (see BlockScanner).
 */
import { context, trace } from '@opentelemetry/api';
import type { BlobCodec } from './blob-codec.ts';
import { isPinned, releaseBuffer } from './buffers.ts';
import { InvalidArgumentError } from './errors.ts';
import type { Hasher } from './hash.ts';
import { BufferPool } from './pipeline.ts';
import type { BlobStore, BlockScanner, BlockSource, ScannedBlock } from './ports.ts';
import { inSpan, SPAN } from './tracing.ts';
import { isZero } from './zero.ts';

export interface LocalScannerOptions {
  readonly hasher: Hasher;
  readonly codec: BlobCodec;
  readonly blobs: BlobStore;
  /** Blocks held at once; a scan beyond it waits for a store or release. */
  readonly window: number;
  readonly blockSize: number;
  /** Blobs go through a blob store other than the engine's (a reader's own). @default false */
  readonly remote?: boolean;
}

export class LocalScanner implements BlockScanner {
  readonly #source: BlockSource;
  readonly #o: LocalScannerOptions;
  readonly #pool: BufferPool;

  constructor(source: BlockSource, options: LocalScannerOptions) {
    this.#source = source;
    this.#o = options;
    this.#pool = new BufferPool(options.window, options.blockSize);
  }

  get url(): string {
    return this.#source.url;
  }

  get sizeBytes(): number {
    return this.#source.sizeBytes;
  }

  get remote(): boolean {
    return this.#o.remote ?? false;
  }

  async scan(offset: number, length: number): Promise<ScannedBlock> {
    const buf = await this.#pool.acquire();
    let held = true;
    const release = (): void => {
      if (held) this.#pool.release(buf);
      held = false;
    };
    /** The pool gets a new buffer instead of this one, which is left to whatever may still read it. */
    const retire = (): void => {
      if (held) this.#pool.release(Buffer.allocUnsafeSlow(this.#o.blockSize));
      held = false;
    };
    try {
      const got = await this.#source.read(offset, length, buf);
      if (got !== length) {
        throw new InvalidArgumentError(
          `source ${this.#source.url} ended early: ${got} of ${length} bytes at offset ${offset} (did it shrink during the backup?)`,
        );
      }
      const data = buf.subarray(0, length);
      if (isZero(data)) {
        release();
        return { sparse: true };
      }
      // A span of its own only inside a sampled block's (the read step's) span.
      const digest = trace.getSpan(context.active())?.isRecording()
        ? await inSpan(SPAN.hash, {}, async () => this.#o.hasher.digest(data))
        : this.#o.hasher.digest(data);
      return {
        sparse: false,
        digest,
        store: async (uid) => {
          // The put reads the block where it was read (no copy), so the buffer stays the block's
          // until the put settles. Then it goes back to the pool, unless a call of the put that
          // was abandoned at its deadline may still read it (pinBuffers): refilled by the next
          // block, it would store that block under this uid. A failed put gets the same care.
          let stored = false;
          try {
            const chunks = await this.#o.codec.encode(uid, data);
            const size = chunks.reduce((n, c) => n + c.byteLength, 0);
            await this.#o.blobs.put(uid, chunks);
            stored = true;
            // Our own memory (compressed or encrypted output): freed now rather than at a collection
            // (a freed chunk reads as empty from here on).
            for (const c of chunks) if (c.buffer !== buf.buffer) releaseBuffer(c);
            return size;
          } finally {
            if (stored && !isPinned(buf)) release();
            else retire();
          }
        },
        release,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.#source.close();
  }
}
