import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { tempDir, type TempDir } from '@blockvault/testing';
import { DIRECT_MIN_BYTES } from '@blockvault/core';
import { writeFileDirect } from './direct-write.ts';
import { FsBlobStore } from './fs-blob-store.ts';

let dir: TempDir;
before(async () => {
  dir = await tempDir();
});
after(() => dir.remove());

describe('writing past the page cache', () => {
  it('writes chunks of any length exactly: the alignment padding is cut off', async () => {
    const chunks = [randomBytes(17), randomBytes(DIRECT_MIN_BYTES + 4093), randomBytes(3)];
    assert.equal(await writeFileDirect(dir.file('odd'), chunks), true, 'written with O_DIRECT');
    assert.deepEqual(await readFile(dir.file('odd')), Buffer.concat(chunks));
  });

  it('a reused slot carries nothing of the file written from it before', async () => {
    const long = randomBytes(DIRECT_MIN_BYTES + 60_000);
    const short = randomBytes(DIRECT_MIN_BYTES + 100); // the same 512 KiB slot size
    await writeFileDirect(dir.file('long'), [long]);
    await writeFileDirect(dir.file('short'), [short]);
    assert.deepEqual(await readFile(dir.file('short')), short);
    // Several at once each get a slot of their own.
    const many = Array.from({ length: 6 }, () => randomBytes(DIRECT_MIN_BYTES * 2 + 1));
    await Promise.all(many.map((b, i) => writeFileDirect(dir.file(`many-${i}`), [b])));
    for (const [i, b] of many.entries()) assert.deepEqual(await readFile(dir.file(`many-${i}`)), b);
  });

  it('never replaces a file that exists', async () => {
    await writeFile(dir.file('taken'), 'mine');
    await assert.rejects(writeFileDirect(dir.file('taken'), [randomBytes(DIRECT_MIN_BYTES)]), { code: 'EEXIST' });
    assert.equal(await readFile(dir.file('taken'), 'utf8'), 'mine');
  });

  it('the blob store keeps block-sized blobs byte for byte, directly or through the cache', async () => {
    for (const direct of [true, false]) {
      const store = new FsBlobStore(dir.file(`blobs-${direct}`), { direct });
      const blob = [randomBytes(12), randomBytes(4 * 1024 * 1024 + 5)];
      await store.put('abcdef0123456789', blob);
      assert.deepEqual(await store.get('abcdef0123456789'), Buffer.concat(blob));
      assert.equal((await store.stat('abcdef0123456789'))?.size, 4 * 1024 * 1024 + 17);
      assert.equal((await stat(dir.file(`blobs-${direct}/ab/cd/abcdef0123456789`))).mode & 0o777, 0o600);
    }
  });
});
