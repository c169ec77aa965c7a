/** LocalScanner: what a blob store is given stays the block's bytes, whatever the scanner reads next. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainCodec } from './blob-codec.ts';
import { createHasher } from './hash.ts';
import type { BlobStore, BlockSource } from './ports.ts';
import { LocalScanner } from './scanner.ts';

const BS = 4096;

describe('LocalScanner', () => {
  it("a put that reads its chunks late (a call abandoned at its deadline) still stores the block's own bytes", async () => {
    const image = Buffer.concat([Buffer.alloc(BS, 1), Buffer.alloc(BS, 2)]);
    const source: BlockSource = {
      url: 'mem:',
      sizeBytes: image.length,
      read: async (offset, length, into) => image.copy(into, 0, offset, offset + length),
      close: async () => undefined,
    };
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
});
