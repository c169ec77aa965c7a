import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { InvalidArgumentError, TargetExistsError, VersionLockedError, VersionNotFoundError } from '@blockvault/core';
import { buildImage } from '@blockvault/testing';
import { BS, harness } from './harness.ts';

describe('restore', () => {
  it('refuses an existing target without --force and leaves it untouched; --force overwrites it', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'z', 'r'], BS, 10);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const precious = Buffer.from('do not overwrite me');
    await writeFile(dir.file('existing.img'), precious);
    await assert.rejects(repo.repository.restore({ uid: version.uid, target: dir.url('existing.img') }), TargetExistsError);
    assert.deepEqual(await dir.read('existing.img'), precious);
    await repo.repository.restore({ uid: version.uid, target: dir.url('existing.img'), force: true });
    assert.deepEqual(await dir.read('existing.img'), img);
  });

  it('zero blocks are holes in a new file, with or without --sparse, and the target is exactly size_bytes long', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'z', 'z', 'z', 'z', 'z', 'z', 'z', 'z', 'r'], BS, 77);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await repo.repository.restore({ uid: version.uid, target: dir.url('sparse.img'), sparse: true });
    await repo.repository.restore({ uid: version.uid, target: dir.url('dense.img') });
    assert.deepEqual(await dir.read('sparse.img'), img);
    assert.deepEqual(await dir.read('dense.img'), img);
    // A file the restore created reads zeros wherever nothing was written: zero blocks cost no write either way.
    for (const name of ['sparse.img', 'dense.img']) {
      const st = await stat(dir.file(name));
      assert.equal(st.size, img.length);
      assert.ok(st.blocks * 512 <= 3 * BS, `${name}: ${st.blocks} 512-byte blocks allocated for 2 blocks of data`);
    }
  });

  it('--continue-from resumes into the existing target without touching earlier blocks', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'r', 'r', 'r', 'r', 'r'], BS, 3);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    // An interrupted restore: the first three blocks are there, the rest is missing.
    const partial = Buffer.concat([img.subarray(0, 3 * BS)]);
    await writeFile(dir.file('out.img'), partial);
    const result = await repo.repository.restore({ uid: version.uid, target: dir.url('out.img'), continueFrom: 3 });
    assert.equal(result.blocksRestored, 4);
    assert.deepEqual(await dir.read('out.img'), img);
    await assert.rejects(repo.repository.restore({ uid: version.uid, target: dir.url('out.img'), continueFrom: 7 }), InvalidArgumentError);
  });

  it('a corrupted blob is found, invalidated in every version that uses it, and the restore completes', async () => {
    const { dir, repo, events } = await harness();
    const img = buildImage(['r', 'r', 'r', 'z'], BS, 5);
    await writeFile(dir.file('a.img'), img);
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const v2 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const other = buildImage(['r'], BS);
    await writeFile(dir.file('b.img'), other);
    const v3 = await repo.repository.backup({ source: dir.url('b.img'), name: 'vm2' });
    const [, block1] = await repo.repository.blocks(v1.version.uid);
    const stored = await repo.blobs.get(block1!.uid!);
    stored[stored.length - 1]! ^= 0xff;
    await repo.blobs.put(block1!.uid!, [stored]);

    const result = await repo.repository.restore({ uid: v1.version.uid, target: dir.url('out.img') });
    assert.deepEqual(result.damagedBlocks, [1]);
    assert.deepEqual(result.invalidatedVersions, [v1.version.uid, v2.version.uid].sort());
    const out = await dir.read('out.img');
    assert.equal(out.length, img.length);
    assert.deepEqual(out.subarray(2 * BS), img.subarray(2 * BS), 'blocks after the damaged one are restored');
    assert.equal((await repo.repository.getVersion(v2.version.uid)).valid, false);
    assert.equal((await repo.repository.getVersion(v3.version.uid)).valid, true);
    assert.equal((await repo.repository.blocks(v2.version.uid))[1]?.valid, false);
    assert.ok(events.some((e) => e.kind === 'blob.invalid'));

    // The next backup that meets the block stores a fresh copy; the new version restores cleanly.
    const v4 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(v4.stats.blocksWritten, 1);
    const again = await repo.repository.restore({ uid: v4.version.uid, target: dir.url('again.img') });
    assert.deepEqual(again.damagedBlocks, []);
    assert.deepEqual(await dir.read('again.img'), img);
  });

  it('a missing blob is reported as damaged and the target still gets its full size', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const [block0] = await repo.repository.blocks(version.uid);
    await repo.blobs.delete([block0!.uid!]);
    const result = await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(result.damagedBlocks, [0]);
    const out = await dir.read('out.img');
    assert.deepEqual(out.subarray(0, BS), Buffer.alloc(BS));
    assert.deepEqual(out.subarray(BS), img.subarray(BS));
  });

  it('refuses a missing version and a version locked by a running backup', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    await assert.rejects(repo.repository.restore({ uid: 'nope', target: dir.url('x.img') }), VersionNotFoundError);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const lease = await repo.repository.ctx.locks.acquire(`version:${version.uid}`, { owner: 'a running backup' });
    await assert.rejects(repo.repository.restore({ uid: version.uid, target: dir.url('x.img') }), VersionLockedError);
    await lease.release();
  });

  it('works the same with sha256 and sha512 repositories', async () => {
    for (const hash of ['sha256', 'sha512'] as const) {
      const { dir, repo } = await harness({ hash });
      const img = buildImage(['r', 'z', 0, 'r'], BS, 9);
      await writeFile(dir.file('a.img'), img);
      const { version, stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
      assert.equal(stats.blocksDedup, 1);
      const [block0] = await repo.repository.blocks(version.uid);
      assert.equal(block0?.checksum?.length, hash === 'sha256' ? 64 : 128);
      await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
      assert.deepEqual(await dir.read('out.img'), img);
    }
  });
});
