/**
 * Cleanup, and the interleavings with backups that could lose data, forced one by one.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { BlobNotFoundError, SessionExpiredError, VersionInUseError, VersionLockedError, type MetadataStore } from '@blockvault/core';
import { buildImage, Gate } from '@blockvault/testing';
import { BS, harness, manualClock } from './harness.ts';

async function blobKeys(repo: { blobs: { list(): AsyncIterable<string> } }): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of repo.blobs.list()) keys.push(k);
  return keys.sort();
}

describe('cleanup', () => {
  it('rm forgets references; cleanup --grace 0 deletes only blobs no version references', async () => {
    const { dir, repo } = await harness();
    const shared = buildImage(['r'], BS);
    await writeFile(dir.file('a.img'), Buffer.concat([shared, buildImage(['r', 'r'], BS)]));
    await writeFile(dir.file('b.img'), Buffer.concat([shared, buildImage(['r'], BS)]));
    const a = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const b = await repo.repository.backup({ source: dir.url('b.img'), name: 'b' });
    assert.equal((await blobKeys(repo)).length, 4);
    await repo.repository.rm(a.version.uid);
    assert.equal((await blobKeys(repo)).length, 4, 'rm deletes no blob');
    const dry = await repo.repository.cleanup({ graceSeconds: 0, dryRun: true });
    assert.equal(dry.blobsDeleted, 2);
    assert.equal((await blobKeys(repo)).length, 4, 'a dry run deletes nothing');
    const result = await repo.repository.cleanup({ graceSeconds: 0 });
    assert.deepEqual({ deleted: result.blobsDeleted, bytes: result.bytesDeleted }, { deleted: 2, bytes: 2 * BS });
    assert.equal((await blobKeys(repo)).length, 2);
    await repo.repository.restore({ uid: b.version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), await dir.read('b.img'));
  });

  it('keeps unreferenced blobs until they have been unreferenced for the grace period', async () => {
    const clock = manualClock('2026-06-01T00:00:00Z');
    const { dir, repo } = await harness({ clock });
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], BS));
    const a = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    await repo.repository.rm(a.version.uid);
    clock.set('2026-06-01T01:00:00Z');
    assert.equal((await repo.repository.cleanup({ graceSeconds: 600 })).blobsDeleted, 0, 'first seen unreferenced now');
    clock.set('2026-06-01T01:09:59Z');
    assert.equal((await repo.repository.cleanup({ graceSeconds: 600 })).blobsDeleted, 0);
    clock.set('2026-06-01T01:10:00Z');
    assert.equal((await repo.repository.cleanup({ graceSeconds: 600 })).blobsDeleted, 2);
  });

  it('a blob a running backup deduplicated against survives a cleanup that runs before the backup commits', async () => {
    const gate = new Gate();
    const { dir, repo } = await harness({ wrapMetadata: (m) => gate.wrap(m) });
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const old = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const commit = gate.next('commitSegments');
    const running = repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    await commit.reached; // the backup has claimed both blobs and is about to record them
    await repo.repository.rm(old.version.uid);
    const result = await repo.repository.cleanup({ graceSeconds: 0 });
    assert.equal(result.candidates, 2, 'both blobs are unreferenced at the mark');
    assert.equal(result.spared, 2, 'and both are spared: the backup claimed them');
    assert.equal(result.blobsDeleted, 0);
    commit.release();
    const { version, stats } = await running;
    assert.equal(stats.blocksDedup, 2);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('a backup meeting a blob cleanup has condemned stores a fresh copy', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const old = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const oldKeys = await blobKeys(repo);
    await repo.repository.rm(old.version.uid);
    let backupDuringCleanup: Promise<{ version: { uid: string }; stats: { blocksWritten: number } }> | undefined;
    const result = await repo.repository.cleanup({
      graceSeconds: 0,
      onPhase: async (phase) => {
        if (phase === 'condemned') backupDuringCleanup = repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
        if (phase === 'condemned') await backupDuringCleanup;
      },
    });
    assert.equal(result.blobsDeleted, 2);
    const { version, stats } = await backupDuringCleanup!;
    assert.equal(stats.blocksWritten, 2, 'condemned blobs are not deduplicated against');
    const keys = await blobKeys(repo);
    assert.equal(keys.length, 2);
    assert.ok(
      keys.every((k) => !oldKeys.includes(k)),
      'the old copies are gone, the fresh ones stay',
    );
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('the base of a running incremental cannot be removed until it ends', async () => {
    const gate = new Gate();
    const { dir, repo } = await harness({ wrapMetadata: (m) => gate.wrap(m) });
    const img = buildImage(Array(12).fill('r'), BS);
    await writeFile(dir.file('a.img'), img);
    const base = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const commit = gate.next('commitSegments');
    const running = repo.repository.backup({ source: dir.url('a.img'), name: 'a', fromUid: base.version.uid, hints: [] });
    await commit.reached;
    await assert.rejects(repo.repository.rm(base.version.uid), VersionInUseError);
    commit.release();
    const { version } = await running;
    await repo.repository.rm(base.version.uid);
    await repo.repository.cleanup({ graceSeconds: 0 });
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('a backup whose session expired while it stalled cannot commit, and --continue finishes it', async () => {
    const clock = manualClock('2026-06-01T00:00:00Z');
    const gate = new Gate();
    const { dir, repo } = await harness({ clock, sessionTtlMs: 60_000, wrapMetadata: (m: MetadataStore) => gate.wrap(m) });
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const old = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const commit = gate.next('commitSegments');
    const stalled = repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    await commit.reached;
    clock.set('2026-06-01T00:05:00Z'); // the stalled backup's session has expired
    await repo.repository.rm(old.version.uid);
    assert.equal((await repo.repository.cleanup({ graceSeconds: 0 })).blobsDeleted, 2);
    commit.release();
    await assert.rejects(stalled, SessionExpiredError);
    const [broken] = await repo.repository.ls();
    assert.equal(broken?.valid, false);
    const { version, stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'a', continueUid: broken!.uid });
    assert.equal(stats.blocksWritten, 2);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('--full deletes stray objects but not the uploads of a backup still running', async () => {
    const gate = new Gate();
    const { dir, repo } = await harness({ wrapMetadata: (m) => gate.wrap(m) });
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const kept = await repo.repository.backup({ source: dir.url('a.img'), name: 'kept' });
    await repo.blobs.put('deadbeefdeadbeefdeadbeefdeadbeef', [Buffer.from('left by a crashed backup')]);
    const { utimes } = await import('node:fs/promises');
    const strayPath = dir.file('repo/blobs/de/ad/deadbeefdeadbeefdeadbeefdeadbeef');
    const longAgo = new Date(Date.now() - 600_000);
    await utimes(strayPath, longAgo, longAgo);
    await writeFile(dir.file('b.img'), buildImage(['r'], BS));
    const commit = gate.next('commitSegments');
    const running = repo.repository.backup({ source: dir.url('b.img'), name: 'running' });
    await commit.reached; // its blob is in the store, not yet in the metadata
    const result = await repo.repository.cleanup({ graceSeconds: 0, full: true });
    assert.equal(result.strayObjectsDeleted, 1);
    await assert.rejects(repo.blobs.get('deadbeefdeadbeefdeadbeefdeadbeef'), BlobNotFoundError);
    commit.release();
    const { version } = await running;
    await repo.repository.restore({ uid: version.uid, target: dir.url('b-out.img') });
    assert.deepEqual(await dir.read('b-out.img'), await dir.read('b.img'));
    await repo.repository.restore({ uid: kept.version.uid, target: dir.url('a-out.img') });
    assert.deepEqual(await dir.read('a-out.img'), img);
  });

  it('only one cleanup runs at a time', async () => {
    const { repo } = await harness();
    let second: Promise<unknown> | undefined;
    await repo.repository.cleanup({
      graceSeconds: 0,
      onPhase: async (phase) => {
        if (phase === 'marked') second = repo.repository.cleanup({ graceSeconds: 0 }).catch((e: unknown) => e);
      },
    });
    assert.ok((await second) instanceof VersionLockedError);
  });

  it('reclaims the superseded copy of a repaired blob', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r'], BS);
    await writeFile(dir.file('a.img'), img);
    const v = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const [block] = await repo.repository.blocks(v.version.uid);
    await repo.blobs.delete([block!.uid!]);
    await repo.repository.restore({ uid: v.version.uid, target: dir.url('damaged.img') }); // invalidates it
    await repo.repository.backup({ source: dir.url('a.img'), name: 'a' }); // stores a fresh copy
    const result = await repo.repository.cleanup({ graceSeconds: 0 });
    assert.equal(result.orphansDeleted, 1);
    assert.equal((await blobKeys(repo)).length, 1);
  });
});
