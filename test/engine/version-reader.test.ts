/** Random access to a version (VersionReader) on an embedded repository: what it fetches, and how much it holds. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { InvalidArgumentError, InvalidVersionStateError, type BlobStore } from '@blockvault/core';
import { buildImage } from '@blockvault/testing';
import { BS, harness } from './harness.ts';

/** Counts the blob store's gets (a wrapper around the real store). */
function counting(): { wrap: (s: BlobStore) => BlobStore; gets: string[] } {
  const gets: string[] = [];
  return {
    gets,
    wrap: (s) => ({
      put: (key, chunks) => s.put(key, chunks),
      get: (key) => (gets.push(key), s.get(key)),
      stat: (key) => s.stat(key),
      delete: (keys) => s.delete(keys),
      list: (prefix) => s.list(prefix),
      listWithDates: (prefix) => s.listWithDates(prefix),
      close: () => s.close(),
    }),
  };
}

describe('version reader', () => {
  it('reads any range equal to the image; sparse blocks cost no fetch, each block is fetched once, the cache stays within its bound', async () => {
    const count = counting();
    const { dir, repo } = await harness({ wrapBlobStore: count.wrap });
    const img = buildImage(['r', 'z', 'r', 'r', 'z', 'r', 'r', 'r', 'r', 'r'], BS, 777);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const reader = await repo.repository.openReader(version.uid, { cacheBytes: 3 * BS, readAhead: 2 });
    count.gets.length = 0;
    // Sequential reads in odd pieces: each block is fetched once (read-ahead fills the cache, reads hit it).
    for (let at = 0; at < img.length; at += 10_000) {
      const n = Math.min(10_000, img.length - at);
      assert.deepEqual(await reader.read(at, n), img.subarray(at, at + n), `${n} at ${at}`);
      assert.ok(reader.cachedBytes <= 3 * BS, `cache ${reader.cachedBytes} bytes`);
    }
    assert.equal(count.gets.length, 9, 'nine non-sparse blocks, one fetch each');
    assert.equal(new Set(count.gets).size, 9);
    // A block evicted long ago is fetched again; a range across blocks is one answer.
    assert.deepEqual(await reader.read(BS - 5, BS + 10), img.subarray(BS - 5, 2 * BS + 5));
    await assert.rejects(reader.read(img.length - 1, 2), InvalidArgumentError);
  });

  it('refuses an incomplete version', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r', 'r', 'r', 'r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await repo.metadata.updateVersion(version.uid, { valid: false });
    await assert.rejects(repo.repository.openReader(version.uid), InvalidVersionStateError);
  });
});
