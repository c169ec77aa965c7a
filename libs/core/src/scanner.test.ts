/** LocalScanner: what a blob store is given stays the block's bytes, whatever the scanner reads next. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainCodec } from './blob-codec.ts';
import { createHasher } from './hash.ts';
import type { BlobStore, BlockSource } from './ports.ts';
import { LocalScanner } from './scanner.ts';
import { DeadlineBlobStore, RetryingBlobStore } from './store-wrappers.ts';

const BS = 4096;

function memorySource(image: Buffer): BlockSource {
  return {
    url: 'mem:',
    sizeBytes: image.length,
    read: async (offset, length, into) => image.copy(into, 0, offset, offset + length),
    close: async () => undefined,
  };
}

describe('LocalScanner', () => {
  it("a put that reads its chunks late (a call abandoned at its deadline) still stores the block's own bytes", async () => {
    const image = Buffer.concat([Buffer.alloc(BS, 1), Buffer.alloc(BS, 2)]);
    const source = memorySource(image);
    const given = new Map<string, readonly Uint8Array[]>();
    // Resolves at once and keeps the chunks, to read them "later", as an abandoned call would.
    const blobs = { put: async (key: string, chunks: readonly Uint8Array[]) => void given.set(key, chunks) } as unknown as BlobStore;
    // One buffer: the second block is read into the very buffer the first one was in.
    const scanner = new LocalScanner(source, { hasher: createHasher('blake3'), codec: plainCodec(BS), blobs, window: 1, blockSize: BS });
    const first = await scanner.scan(0, BS);
    assert.equal(first.sparse, false);
    if (!first.sparse) await first.store('00000000000000aa');
    const second = await scanner.scan(BS, BS);
    if (!second.sparse) second.release();
    const stored = Buffer.concat(given.get('00000000000000aa')!);
    assert.deepEqual(stored.subarray(stored.length - BS), Buffer.alloc(BS, 1), 'the first blob holds the first block, not the second');
  });

  it('frees what it stored once the put resolved, but never bytes a put abandoned at its deadline may still read', async () => {
    const MiB4 = 4 * 1024 * 1024;
    const image = Buffer.concat([Buffer.alloc(MiB4, 1), Buffer.alloc(MiB4, 2)]);
    const source = memorySource(image);
    const given: (readonly Uint8Array[])[] = [];
    // The first put never answers (abandoned at the deadline, still holding its chunks); the rest answer at once.
    const backend = {
      put: (_key: string, chunks: readonly Uint8Array[]) => {
        given.push(chunks);
        return given.length === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
      },
    } as unknown as BlobStore;
    const blobs = new RetryingBlobStore(new DeadlineBlobStore(backend, 20, 'test store'), { initialDelayMs: 1, maxDelayMs: 1 });
    const scanner = new LocalScanner(source, {
      hasher: createHasher('blake3'),
      codec: plainCodec(MiB4),
      blobs,
      window: 1,
      blockSize: MiB4,
    });
    for (const [i, uid] of ['00000000000000aa', '00000000000000bb'].entries()) {
      const block = await scanner.scan(i * MiB4, MiB4);
      assert.equal(block.sparse, false);
      if (!block.sparse) await block.store(uid);
    }
    assert.equal(given.length, 3, 'the first block took two puts, the second one');
    const abandoned = Buffer.concat(given[0]!);
    assert.deepEqual(abandoned.subarray(abandoned.length - MiB4), Buffer.alloc(MiB4, 1), 'the abandoned put still reads the first block');
    assert.equal(given[2]!.reduce((n, c) => n + c.byteLength, 0) < MiB4, true, "the second block's bytes were freed once stored");
  });
});
