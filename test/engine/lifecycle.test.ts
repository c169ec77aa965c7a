import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  ConflictError,
  InvalidArgumentError,
  InvalidVersionStateError,
  ProtectedVersionError,
  VersionLockedError,
  VersionNotFoundError,
} from '@blockvault/core';
import { openEmbedded } from '@blockvault/platform';
import { buildImage } from '@blockvault/testing';
import { BS, harness, manualClock } from './harness.ts';

describe('version lifecycle', () => {
  it('protect and unprotect refuse a no-op; rm refuses a protected version', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await assert.rejects(repo.repository.setProtected(version.uid, false), InvalidVersionStateError);
    assert.equal((await repo.repository.setProtected(version.uid, true)).protected, true);
    await assert.rejects(repo.repository.setProtected(version.uid, true), /already protected/);
    await assert.rejects(repo.repository.rm(version.uid), ProtectedVersionError);
    await assert.rejects(repo.repository.rm(version.uid, { force: true }), ProtectedVersionError);
    await repo.repository.setProtected(version.uid, false);
    await repo.repository.rm(version.uid);
    await assert.rejects(repo.repository.getVersion(version.uid), VersionNotFoundError);
  });

  it('rm refuses versions younger than the repository allows unless forced, and locked ones', async () => {
    const clock = manualClock('2026-05-01T00:00:00Z');
    const { dir, repo } = await harness({ clock, disallowRmWhenYoungerThanDays: 3 });
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const a = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const b = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    clock.set('2026-05-02T00:00:00Z');
    await assert.rejects(repo.repository.rm(a.version.uid), ConflictError);
    await repo.repository.rm(a.version.uid, { force: true });
    clock.set('2026-05-05T00:00:00Z');
    const lease = await repo.repository.ctx.locks.acquire(`version:${b.version.uid}`, { owner: 'backup' });
    await assert.rejects(repo.repository.rm(b.version.uid), VersionLockedError);
    await lease.release();
    await repo.repository.rm(b.version.uid);
    assert.deepEqual(await repo.repository.ls(), []);
  });

  it('adds and removes tags, sets and clears expiry, and lists by name, tag, snapshot and expiry', async () => {
    const clock = manualClock('2026-05-01T00:00:00Z');
    const { dir, repo } = await harness({ clock });
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const a = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', snapshotName: 's1', tags: ['t1'] });
    const b = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm2', snapshotName: 's2', tags: ['t2'] });
    assert.deepEqual((await repo.repository.addTags(a.version.uid, ['x', 't1'])).tags, ['t1', 'x']);
    assert.deepEqual((await repo.repository.removeTags(a.version.uid, ['t1'])).tags, ['x']);
    await assert.rejects(repo.repository.removeTags(a.version.uid, ['nope']), InvalidArgumentError);
    await assert.rejects(repo.repository.addTags(a.version.uid, ['bad tag']), InvalidArgumentError);
    await repo.repository.setExpire(b.version.uid, new Date('2026-05-10T00:00:00Z'));
    const uids = (vs: { uid: string }[]): string[] => vs.map((v) => v.uid);
    assert.deepEqual(uids(await repo.repository.ls({ name: 'vm2' })), [b.version.uid]);
    assert.deepEqual(uids(await repo.repository.ls({ tag: 'x' })), [a.version.uid]);
    assert.deepEqual(uids(await repo.repository.ls({ snapshotName: 's1' })), [a.version.uid]);
    assert.deepEqual(uids(await repo.repository.ls({ expired: true })), []);
    clock.set('2026-05-11T00:00:00Z');
    assert.deepEqual(uids(await repo.repository.ls({ expired: true })), [b.version.uid]);
    await repo.repository.setExpire(b.version.uid, null);
    assert.deepEqual(uids(await repo.repository.ls({ expired: true })), []);
  });

  it('du counts blocks repeated inside a version once as unique, and splits shared from exclusive', async () => {
    const { dir, repo } = await harness();
    // Blocks: A, A, zero, B, short tail C.
    const img = buildImage(['r', 0, 'z', 'r'], BS, 1000);
    await writeFile(dir.file('a.img'), img);
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    // Second image shares A only.
    await writeFile(dir.file('b.img'), Buffer.concat([img.subarray(0, BS), buildImage(['r'], BS)]));
    await repo.repository.backup({ source: dir.url('b.img'), name: 'vm2' });
    const [du] = await repo.repository.du(v1.version.uid);
    assert.deepEqual(du, {
      uid: v1.version.uid,
      name: 'vm1',
      sizeBytes: 4 * BS + 1000,
      complete: true,
      unrecordedBytes: 0,
      realBytes: 3 * BS + 1000,
      sparseBytes: BS,
      dedupBytes: BS,
      uniqueBytes: 2 * BS + 1000,
      sharedBytes: BS,
      exclusiveBytes: BS + 1000,
    });
  });

  it('a repository keeps the hash and block size it was created with', async () => {
    const { dir, repo } = await harness({ hash: 'sha256' });
    await repo.close();
    await assert.rejects(openEmbedded({ home: dir.file('repo'), hash: 'blake3' }), /fixed when it was created/);
    const reopened = await openEmbedded({ home: dir.file('repo') });
    assert.equal(reopened.repository.ctx.config.hash, 'sha256');
    assert.equal(reopened.repository.ctx.config.blockSize, BS);
    await reopened.close();
  });
});
