/** LocalScanner: what a blob store is given stays the block's bytes, whatever the scanner reads next. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { plainCodec, TransformCodec } from './blob-codec.ts';
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
  it("gives the put the block's own bytes, and reads the next block into the same buffer only once the put settled", async () => {
    const image = Buffer.concat([Buffer.alloc(BS, 1), Buffer.alloc(BS, 2)]);
    const seen: Buffer[] = [];
    let finish!: () => void;
    // Answers when told to, and records what its chunks hold by then.
    const blobs = {
      put: (_key: string, chunks: readonly Uint8Array[]) =>
        new Promise<void>((done) => {
          finish = () => {
            seen.push(Buffer.concat(chunks));
            done();
          };
        }),
    } as unknown as BlobStore;
    // One buffer: the second block can only be read into the buffer the first one is in.
    const scanner = new LocalScanner(memorySource(image), {
      hasher: createHasher('blake3'),
      codec: plainCodec(BS),
      blobs,
      window: 1,
      blockSize: BS,
    });
    const first = await scanner.scan(0, BS);
    assert.equal(first.sparse, false);
    const storing = first.sparse ? undefined : first.store('00000000000000aa');
    let secondRead = false;
    const second = scanner.scan(BS, BS).then((b) => {
      secondRead = true;
      return b;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(secondRead, false, 'the next block waits for the buffer');
    finish();
    await storing;
    assert.deepEqual(seen[0]!.subarray(seen[0]!.length - BS), Buffer.alloc(BS, 1), 'the put read the first block');
    const next = await second;
    assert.equal(next.sparse, false);
    if (!next.sparse) next.release();
  });

  it('returns the size of what it stored, compressed or not', async () => {
    const MiB = 4 * 1024 * 1024;
    // Half random, half text: it compresses to about half, into memory large enough to be freed.
    const image = Buffer.concat([Buffer.alloc(MiB, 'text-like '), randomBytes(MiB)]);
    for (let at = 0; at < MiB; at += 4096) randomBytes(2048).copy(image, at);
    const sizes = new Map<string, number>();
    const blobs = {
      put: async (key: string, chunks: readonly Uint8Array[]) =>
        void sizes.set(
          key,
          chunks.reduce((n, c) => n + c.byteLength, 0),
        ),
    } as unknown as BlobStore;
    const codec = new TransformCodec({ compressionLevel: 1, maxBlockSize: MiB });
    const scanner = new LocalScanner(memorySource(image), { hasher: createHasher('blake3'), codec, blobs, window: 1, blockSize: MiB });
    for (const [i, uid] of ['00000000000000aa', '00000000000000bb'].entries()) {
      const block = await scanner.scan(i * MiB, MiB);
      assert.equal(block.sparse, false);
      if (!block.sparse) assert.equal(await block.store(uid), sizes.get(uid), `block ${i}: what the store was given`);
    }
    assert.ok(sizes.get('00000000000000aa')! < MiB * 0.6, 'the first block was compressed');
  });

  it('never reuses the buffer of a put that failed: it may still be reading', async () => {
    const MiB = 1024 * 1024;
    const image = Buffer.concat([Buffer.alloc(MiB, 1), Buffer.alloc(MiB, 2)]);
    const given: (readonly Uint8Array[])[] = [];
    const blobs = {
      put: async (_key: string, chunks: readonly Uint8Array[]) => {
        given.push(chunks);
        throw new Error('refused, bytes still in flight');
      },
    } as unknown as BlobStore;
    const scanner = new LocalScanner(memorySource(image), {
      hasher: createHasher('blake3'),
      codec: plainCodec(MiB),
      blobs,
      window: 1,
      blockSize: MiB,
    });
    const first = await scanner.scan(0, MiB);
    if (!first.sparse) await assert.rejects(first.store('00000000000000aa'), /refused/);
    const second = await scanner.scan(MiB, MiB);
    if (!second.sparse) second.release();
    const failed = Buffer.concat(given[0]!);
    assert.deepEqual(failed.subarray(failed.length - MiB), Buffer.alloc(MiB, 1), 'the failed put still reads the first block');
  });

  it('never reuses or frees bytes a put abandoned at its deadline may still read, though a retry stored them', async () => {
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
  });
});
