/**
 * Hashing where the data is, through the reader service in this process: a backup through a
 * reader that shares the repository's blob store sends only digests to the engine and stores new
 * blocks from the reader; a reader with no blob store makes the engine read the blocks itself;
 * a reader whose blob store is not the repository's fails the backup before any segment refers to
 * a blob the repository cannot find.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ConflictError, IoRegistry, type BlobStore } from '@blockvault/core';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import { defaultConfig, localIo, openEmbedded } from '@blockvault/platform';
import { RemoteIo, serveReader, type ReaderServer } from '@blockvault/service-reader';
import { buildImage, tempDir, type TempDir } from '@blockvault/testing';

const BS = 64 * 1024;
let dir: TempDir;
let image: Buffer;
const servers: ReaderServer[] = [];

before(async () => {
  dir = await tempDir();
  // New blocks, a duplicate of block 0, and a zero block.
  image = buildImage(['r', 'r', 0, 'z', 'r', 'r', 1, 'r'], BS, 1000);
  await writeFile(dir.file('disk.img'), image);
});

after(async () => {
  for (const s of servers) await s.stop();
  await dir?.remove();
});

/** A reader service for files under the test directory, storing through `blobs` (or nothing). */
async function reader(blobs: BlobStore | undefined): Promise<string> {
  const io = new IoRegistry(localIo(defaultConfig(dir.file('reader-home')).io));
  const server = await serveReader(io, '127.0.0.1:0', undefined, blobs);
  servers.push(server);
  return `127.0.0.1:${server.port}`;
}

/** Counts the puts and gets of block blobs a blob store receives. */
function counted(store: BlobStore): { store: BlobStore; puts: string[]; gets: string[] } {
  const puts: string[] = [];
  const gets: string[] = [];
  const block = (key: string): boolean => !key.includes('/');
  return {
    puts,
    gets,
    store: new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'put') return (key: string, chunks: Uint8Array[]) => (block(key) && puts.push(key), target.put(key, chunks));
        if (prop === 'get') return (key: string) => (block(key) && gets.push(key), target.get(key));
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }),
  };
}

describe('backups through a reader that hashes where the data is', () => {
  it('sends only digests, stores each new block once from the reader, and restores byte for byte', async () => {
    const home = dir.file('shared');
    await mkdir(`${home}/blobs`, { recursive: true });
    const readerStore = counted(new FsBlobStore(`${home}/blobs`));
    const address = await reader(readerStore.store);
    const repo = await openEmbedded({ home, blockSize: BS, blocksPerSegment: 4, io: new IoRegistry([new RemoteIo('file', address)]) });
    const engineStore = counted(repo.blobs);
    Object.defineProperty(repo.repository.ctx, 'blobs', { value: engineStore.store });
    try {
      const first = await repo.repository.backup({ source: dir.url('disk.img'), name: 'vm1' });
      assert.equal(first.stats.blocksWritten, 6, 'six distinct non-zero blocks, the short tail included');
      assert.equal(first.stats.blocksDedup, 2);
      assert.equal(first.stats.blocksSparse, 1);
      assert.equal(readerStore.puts.length, 6, 'the reader stored each new block once');
      const again = await repo.repository.backup({ source: dir.url('disk.img'), name: 'vm1' });
      assert.equal(again.stats.blocksWritten, 0);
      assert.equal(readerStore.puts.length, 6, 'an unchanged backup stores nothing');
      const restored = await repo.repository.restore({ uid: again.version.uid, target: dir.url('out.img') });
      assert.deepEqual(restored.damagedBlocks, []);
      assert.deepEqual(await dir.read('out.img'), image);
      assert.deepEqual(engineStore.puts, [], 'no block bytes reached the engine to store');
      assert.equal(readerStore.gets.length, 8, 'the reader fetched each non-zero block of the restore');
      assert.deepEqual(engineStore.gets, [], 'no block bytes came through the engine to restore');

      // A blob rotten in the store: the reader finds it unsound, the engine confirms, marks and reports it.
      // Block 0's blob, looked up in the version: the reader stores new blocks concurrently, so
      // the order of its puts says nothing about which block each was.
      const [block0] = await repo.repository.blocks(again.version.uid);
      const victim = block0!.uid!;
      assert.ok(readerStore.puts.includes(victim), 'block 0 was stored by the reader');
      const path = `${home}/blobs/${victim.slice(0, 2)}/${victim.slice(2, 4)}/${victim}`;
      const rotten = await readFile(path);
      rotten[rotten.length - 1]! ^= 0xff;
      await writeFile(path, rotten);
      const damaged = await repo.repository.restore({ uid: again.version.uid, target: dir.url('rot.img') });
      assert.deepEqual(damaged.damagedBlocks, [0, 2], 'block 0 and its copy at 2');
      assert.equal((await repo.repository.getVersion(again.version.uid)).valid, false, 'the version is marked damaged');
    } finally {
      await repo.close();
    }
  });

  it("encodes at the reader with the job's transforms: compressed and encrypted with the repository's data key", async () => {
    const home = dir.file('sealed');
    await mkdir(`${home}/blobs`, { recursive: true });
    const readerStore = counted(new FsBlobStore(`${home}/blobs`));
    const address = await reader(readerStore.store);
    const text = Buffer.alloc(BS, 'a compressible line of text\n');
    const img = Buffer.concat([text, randomBytes(BS)]);
    await writeFile(dir.file('sealed.img'), img);
    const repo = await openEmbedded({
      home,
      blockSize: BS,
      blocksPerSegment: 4,
      io: new IoRegistry([new RemoteIo('file', address)]),
      transforms: { compressionLevel: 3, masterKeys: [{ id: 'k1', key: randomBytes(32) }] },
    });
    try {
      const r = await repo.repository.backup({ source: dir.url('sealed.img'), name: 'sealed' });
      assert.equal(readerStore.puts.length, 2);
      const [textBlob, randomBlob] = await Promise.all(readerStore.puts.map((k) => repo.blobs.get(k)));
      for (const blob of [textBlob!, randomBlob!]) {
        assert.equal(blob.indexOf(Buffer.from('a compressible line')), -1, 'no plaintext in the store');
        assert.equal(blob.indexOf(img.subarray(BS, BS + 64)), -1, 'no plaintext in the store');
      }
      assert.ok(Math.min(textBlob!.length, randomBlob!.length) < BS / 10, 'the text block was compressed before encryption');
      await repo.repository.restore({ uid: r.version.uid, target: dir.url('sealed.out') });
      assert.deepEqual(await dir.read('sealed.out'), img, "the repository decodes the reader's blobs");
    } finally {
      await repo.close();
    }
  });

  it('with a reader that stores no blobs, the engine reads the blocks itself', async () => {
    const home = dir.file('fallback');
    const address = await reader(undefined);
    const repo = await openEmbedded({ home, blockSize: BS, blocksPerSegment: 4, io: new IoRegistry([new RemoteIo('file', address)]) });
    try {
      const r = await repo.repository.backup({ source: dir.url('disk.img'), name: 'vm1' });
      assert.equal(r.stats.blocksWritten, 6);
      await repo.repository.restore({ uid: r.version.uid, target: dir.url('fallback.img') });
      assert.deepEqual(await dir.read('fallback.img'), image);
    } finally {
      await repo.close();
    }
  });

  it("refuses a reader whose blob store is not the repository's, before a segment refers to its blobs", async () => {
    const home = dir.file('mismatch');
    await mkdir(dir.file('elsewhere'), { recursive: true });
    const address = await reader(new FsBlobStore(dir.file('elsewhere')));
    const repo = await openEmbedded({ home, blockSize: BS, blocksPerSegment: 4, io: new IoRegistry([new RemoteIo('file', address)]) });
    try {
      await assert.rejects(repo.repository.backup({ source: dir.url('disk.img'), name: 'vm1' }), (err: Error) => {
        assert.ok(err instanceof ConflictError, String(err));
        assert.match(err.message, /BLOCKVAULT_BLOBSTORE_URL/);
        return true;
      });
      const [version] = await repo.repository.ls();
      assert.equal(version?.valid, false, 'the version stays invalid');
      assert.deepEqual(await repo.metadata.getVersionSegments(version.uid), new Map(), 'no segment was committed');
    } finally {
      await repo.close();
    }
  });
});
