import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { VersionLockedError } from '@blockvault/core';
import { buildImage, overwrite } from '@blockvault/testing';
import { BS, harness } from './harness.ts';

function blobPath(home: string, uid: string): string {
  return `${home}/blobs/${uid.slice(0, 2)}/${uid.slice(2, 4)}/${uid}`;
}

describe('scrub', () => {
  it('a clean version passes light and deep scrubs and stays valid', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'z', 'r', 0], BS, 10));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const light = await repo.repository.scrub(version.uid);
    assert.deepEqual(
      { checked: light.blocksChecked, damaged: light.damagedBlocks, valid: light.valid },
      { checked: 5, damaged: [], valid: true },
    );
    const deep = await repo.repository.scrub(version.uid, { deep: true, source: dir.url('a.img') });
    assert.deepEqual(
      { damaged: deep.damagedBlocks, mismatches: deep.sourceMismatches, valid: deep.valid },
      { damaged: [], mismatches: [], valid: true },
    );
  });

  it('light scrub finds deleted and truncated blobs; deep scrub also finds flipped bits; both mark every user invalid', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r', 'r', 'r'], BS));
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const v2 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const blocks = await repo.repository.blocks(v1.version.uid);
    const home = dir.file('repo');
    await repo.blobs.delete([blocks[0]!.uid!]);
    await truncate(blobPath(home, blocks[1]!.uid!), 100);
    await overwrite(blobPath(home, blocks[2]!.uid!), 5000, Buffer.from('bit rot'));
    const light = await repo.repository.scrub(v1.version.uid);
    assert.deepEqual(light.damagedBlocks, [0, 1], 'a light scrub cannot see a flipped bit');
    assert.equal(light.valid, false);
    assert.equal((await repo.repository.getVersion(v2.version.uid)).valid, false, 'the other version shares the damaged blobs');
    const deep = await repo.repository.scrub(v2.version.uid, { deep: true });
    assert.deepEqual(deep.damagedBlocks, [0, 1, 2]);
    // The next backup re-reads the damaged blocks and stores fresh copies; a scrub then passes.
    const v3 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(v3.stats.blocksWritten, 3);
    const after = await repo.repository.scrub(v1.version.uid, { deep: true });
    assert.deepEqual(
      { damaged: after.damagedBlocks, valid: after.valid },
      { damaged: [], valid: true },
      'repaired blobs make the old version valid again',
    );
  });

  it('a source mismatch fails a deep scrub but marks nothing invalid', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await overwrite(dir.file('a.img'), BS + 7, Buffer.from('changed'));
    const r = await repo.repository.scrub(version.uid, { deep: true, source: dir.url('a.img') });
    assert.deepEqual(r.sourceMismatches, [1]);
    assert.deepEqual(r.damagedBlocks, []);
    assert.equal((await repo.repository.getVersion(version.uid)).valid, true);
  });

  it('an incomplete version is invalid, and du says so instead of counting its unrecorded blocks as sparse', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r', 'r', 'r', 'r', 'r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    // Simulate an interrupted backup: forget its last segment.
    const db = (await import('node:sqlite')).DatabaseSync;
    const raw = new db(dir.file('repo/metadata.sqlite'));
    raw.prepare('DELETE FROM version_segments WHERE version_uid = ? AND seg_no = 1').run(version.uid);
    raw.close();
    const r = await repo.repository.scrub(version.uid);
    assert.equal(r.incomplete, true);
    assert.equal(r.valid, false);
    assert.equal((await repo.repository.getVersion(version.uid)).valid, false);
    const [usage] = await repo.repository.du(version.uid);
    assert.equal(usage?.complete, false);
    assert.equal(usage?.sparseBytes, 0, 'no block of this image is zero');
    assert.equal(usage?.unrecordedBytes, 2 * BS, 'the forgotten segment held two blocks');
    assert.equal(usage!.realBytes + usage!.unrecordedBytes, 6 * BS);
  });

  it('--percent samples blocks; a batch scrub checks each shared blob once', async () => {
    const { dir, repo } = await harness({
      random: (() => {
        let i = 0;
        return () => (i++ % 2 === 0 ? 0.1 : 0.9);
      })(),
    });
    await writeFile(dir.file('a.img'), buildImage(Array(8).fill('r'), BS));
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const half = await repo.repository.scrub(v1.version.uid, { percent: 50 });
    assert.equal(half.blocksChecked, 4);
    let gets = 0;
    const counting = await harness({
      wrapBlobStore: (s) => ({
        ...s,
        get: (k: string) => (gets++, s.get(k)),
        stat: s.stat.bind(s),
        put: s.put.bind(s),
        delete: s.delete.bind(s),
        list: s.list.bind(s),
        listWithDates: s.listWithDates.bind(s),
        close: s.close.bind(s),
      }),
    });
    await writeFile(counting.dir.file('a.img'), buildImage(Array(8).fill('r'), BS));
    await counting.repo.repository.backup({ source: counting.dir.url('a.img'), name: 'vm1' });
    await counting.repo.repository.backup({ source: counting.dir.url('a.img'), name: 'vm1' });
    const results = await counting.repo.repository.batchScrub({ deep: true });
    assert.equal(results.length, 2);
    assert.equal(gets, 8, 'two versions share eight blobs: each is read once');
  });

  it('refuses to scrub a version a backup holds', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const lease = await repo.repository.ctx.locks.acquire(`version:${version.uid}`, { owner: 'backup' });
    await assert.rejects(repo.repository.scrub(version.uid), VersionLockedError);
    await lease.release();
  });
});
