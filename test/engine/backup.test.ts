import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  CancelledError,
  InvalidHintsError,
  InvalidVersionStateError,
  SanityCheckError,
  UnavailableError,
  type BackupStats,
  type BlobStore,
} from '@blockvault/core';
import { buildImage, Faults, overwrite } from '@blockvault/testing';
import { BS, harness, manualClock } from './harness.ts';

function assertBlocksAccountedFor(stats: BackupStats, blocks: number): void {
  assert.equal(stats.blocksWritten + stats.blocksDedup + stats.blocksSparse, blocks, 'every block is written, deduplicated or sparse');
}

describe('backup', () => {
  it('stores only distinct blocks, records zero blocks as sparse, and restores byte for byte', async () => {
    const { dir, repo } = await harness();
    const image = buildImage(['r', 'z', 0, 'r', 'z', 3, 0, 'r', 'r'], BS, 1234);
    await writeFile(dir.file('a.img'), image);
    const { version, stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(version.valid, true);
    assert.equal(version.size, 10);
    assert.equal(version.sizeBytes, image.length);
    assert.deepEqual(
      { read: stats.blocksRead, written: stats.blocksWritten, dedup: stats.blocksDedup, sparse: stats.blocksSparse },
      { read: 10, written: 5, dedup: 3, sparse: 2 },
    );
    assert.equal(stats.bytesRead, image.length);
    assert.equal(stats.bytesWritten, 4 * BS + 1234);
    assertBlocksAccountedFor(stats, 10);
    const blobs: string[] = [];
    for await (const k of repo.blobs.list()) blobs.push(k);
    assert.equal(blobs.length, 5, 'one blob per distinct non-zero block');
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), image);
  });

  it('deduplicates across versions: an unchanged re-backup writes nothing', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r', 'z', 'r', 'r'], BS));
    await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const { stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(stats.blocksWritten, 0);
    assert.equal(stats.blocksDedup, 4);
    assert.equal(stats.blocksSparse, 1);
  });

  it('with --from and hints reads only the hinted blocks plus the sanity check, and restores the new image', async () => {
    const { dir, repo } = await harness({ random: () => 0.5 });
    const specs = Array.from({ length: 40 }, (_, i) => (i % 5 === 4 ? 'z' : 'r') as 'r' | 'z');
    const v1img = buildImage(specs, BS, 100);
    await writeFile(dir.file('v.img'), v1img);
    const base = await repo.repository.backup({ source: dir.url('v.img'), name: 'vm1' });
    await overwrite(dir.file('v.img'), 13 * BS, buildImage(['r'], BS));
    await overwrite(dir.file('v.img'), 30 * BS, Buffer.alloc(BS));
    const hints = [
      { offset: 13 * BS, length: BS, exists: true },
      { offset: 30 * BS, length: BS, exists: false },
    ];
    const { version, stats } = await repo.repository.backup({ source: dir.url('v.img'), name: 'vm1', fromUid: base.version.uid, hints });
    assert.equal(stats.blocksChecked, 10);
    assert.equal(stats.blocksRead, 1 + 10, 'the hinted block and the sanity-check blocks only');
    assert.equal(stats.blocksWritten, 1);
    assertBlocksAccountedFor(stats, 41);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), await dir.read('v.img'));
  });

  it('with hints and no base, treats blocks the hints do not name as unallocated (sparse)', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['z', 'r', 'z', 'z', 'r'], BS));
    const hints = [
      { offset: BS, length: BS, exists: true },
      { offset: 4 * BS, length: BS, exists: true },
    ];
    const { version, stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', hints });
    assert.equal(stats.blocksRead, 2);
    assert.equal(stats.blocksSparse, 3);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), await dir.read('a.img'));
  });

  it('refuses hints past the end of the source before creating a version', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], BS));
    await assert.rejects(
      repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', hints: [{ offset: BS, length: BS + 1, exists: true }] }),
      InvalidHintsError,
    );
    assert.deepEqual(await repo.repository.ls(), []);
  });

  it('deletes the new version and fails when the source differs from the base outside the hints', async () => {
    const { dir, repo, events } = await harness();
    await writeFile(dir.file('a.img'), buildImage(Array(12).fill('r'), BS));
    const base = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    // Change every block, but hint only block 0: the hints are wrong.
    await writeFile(dir.file('a.img'), buildImage(Array(12).fill('r'), BS));
    await assert.rejects(
      repo.repository.backup({
        source: dir.url('a.img'),
        name: 'vm1',
        fromUid: base.version.uid,
        hints: [{ offset: 0, length: BS, exists: true }],
      }),
      SanityCheckError,
    );
    assert.deepEqual(
      (await repo.repository.ls()).map((v) => v.uid),
      [base.version.uid],
    );
    assert.ok(
      events.some((e) => e.kind === 'backup.failed' && e['code'] === 'INTEGRITY'),
      'a failure names its error code',
    );
  });

  it('refuses an invalid base version', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const base = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await repo.metadata.updateVersion(base.version.uid, { valid: false });
    await assert.rejects(
      repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', fromUid: base.version.uid, hints: [] }),
      InvalidVersionStateError,
    );
  });

  it('re-reads a last block whose size changed since the base', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'r', 'r'], BS, 500);
    await writeFile(dir.file('a.img'), img);
    const base = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const grown = Buffer.concat([img, buildImage([], BS, 700)]);
    await writeFile(dir.file('a.img'), grown);
    const { version, stats } = await repo.repository.backup({
      source: dir.url('a.img'),
      name: 'vm1',
      fromUid: base.version.uid,
      hints: [],
    });
    assert.equal(version.sizeBytes, grown.length);
    assert.equal(stats.blocksRead - stats.blocksChecked, 1, 'only the last block is read as new');
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), grown);
  });

  it('continues an interrupted backup, reading only blocks not yet recorded', async () => {
    const faults = new Faults();
    const { dir, repo } = await harness({ concurrency: 1, wrapBlobStore: (s) => faults.wrap(s) });
    const img = buildImage(Array(20).fill('r'), BS);
    await writeFile(dir.file('a.img'), img);
    faults.fail('put', new Error('injected blob store failure'), { after: 10, times: Infinity });
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' }), /injected/);
    const [broken] = await repo.repository.ls();
    assert.equal(broken?.valid, false);
    faults.clear('put');
    const { version, stats } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: broken!.uid });
    assert.equal(version.uid, broken!.uid);
    assert.equal(version.valid, true);
    assert.equal(stats.blocksRead, 20 - 8, 'the two committed segments (8 blocks) are not read again');
    // Blobs stored after the last committed segment were never recorded: they are written again,
    // and the unreferenced copies are left for cleanup.
    assert.equal(stats.blocksWritten, 12);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('a cancelled backup stops between blocks, settles what was in flight, and continues to a byte-identical version', async () => {
    const controller = new AbortController();
    let started = 0;
    let finished = 0;
    // Cancel once 6 blobs are stored.
    const wrap = (s: BlobStore): BlobStore => ({
      put: async (key, chunks) => {
        started++;
        await s.put(key, chunks);
        if (++finished === 6) controller.abort(new CancelledError('cancelled by the test'));
      },
      get: (k) => s.get(k),
      stat: (k) => s.stat(k),
      delete: (k) => s.delete(k),
      list: (p) => s.list(p),
      listWithDates: (p) => s.listWithDates(p),
      close: () => s.close(),
    });
    const { dir, repo, events } = await harness({ concurrency: 2, wrapBlobStore: wrap });
    const img = buildImage(Array(40).fill('r'), BS);
    await writeFile(dir.file('a.img'), img);
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', signal: controller.signal }), CancelledError);
    assert.equal(finished, started, 'no blob write is still running once the backup has returned');
    assert.ok(finished < 40, `stopped early: ${finished} of 40 blocks stored`);
    const [cancelled] = await repo.repository.ls();
    assert.equal(cancelled?.valid, false, 'an incomplete version is never valid');
    const stopped = events.filter((e) => e['versionUid'] === cancelled!.uid && /^backup\.(failed|cancelled)$/.test(e.kind));
    assert.deepEqual(
      stopped.map((e) => [e.kind, e['code']]),
      [['backup.cancelled', 'CANCELLED']],
      'one cancellation, not a failure',
    );
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: cancelled!.uid });
    assert.equal(version.valid, true);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('refuses to continue a valid version, or one of a different size', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], BS));
    const done = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await assert.rejects(
      repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: done.version.uid }),
      /nothing to continue/,
    );
    await repo.metadata.updateVersion(done.version.uid, { valid: false });
    await writeFile(dir.file('a.img'), buildImage(['r', 'r', 'r'], BS));
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: done.version.uid }), /same source/);
  });

  it('tags versions b_daily/b_weekly/b_monthly automatically, and given tags replace them', async () => {
    const clock = manualClock('2026-03-10T10:00:00Z');
    const { dir, repo } = await harness({ clock });
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const first = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.deepEqual(first.version.tags, ['b_daily', 'b_weekly', 'b_monthly']);
    clock.set('2026-03-11T10:00:00Z');
    const second = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.deepEqual(second.version.tags, ['b_daily']);
    const tagged = await repo.repository.backup({
      source: dir.url('a.img'),
      name: 'vm1',
      tags: ['manual'],
      expire: new Date('2026-04-01T00:00:00Z'),
    });
    assert.deepEqual(tagged.version.tags, ['manual']);
    assert.deepEqual(tagged.version.expire, new Date('2026-04-01T00:00:00Z'));
  });

  it('automatic tags go to the first valid version of a period: a failed attempt takes none, its retry gets them', async () => {
    const clock = manualClock('2026-03-10T10:00:00Z');
    const faults = new Faults();
    const { dir, repo } = await harness({ clock, wrapBlobStore: (s) => faults.wrap(s) });
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], BS));
    faults.fail('put', new UnavailableError('injected: store down'), { times: Infinity });
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' }), UnavailableError);
    const [failed] = await repo.repository.ls();
    assert.deepEqual(failed?.tags, [], 'an incomplete version has no automatic tags');
    faults.clear();
    const retried = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.deepEqual(retried.version.tags, ['b_daily', 'b_weekly', 'b_monthly']);
    const continued = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: failed!.uid });
    assert.deepEqual(continued.version.tags, [], 'the period already has its valid version');
  });

  it('an unchanged incremental with hints writes only pointers: no segment is rewritten', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(Array(64).fill('r'), BS));
    const base = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const before = repo.metadata.sizeBytes();
    const next = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', fromUid: base.version.uid, hints: [] });
    const segs = await repo.metadata.getVersionSegments(next.version.uid);
    const baseSegs = await repo.metadata.getVersionSegments(base.version.uid);
    for (const [n, p] of segs) assert.deepEqual(p.segId, baseSegs.get(n)?.segId, `segment ${n} is shared with the base`);
    assert.equal(next.stats.blocksRead, next.stats.blocksChecked);
    assert.ok(repo.metadata.sizeBytes() - before < 16 * 1024, 'a few pages of pointers at most');
  });
});
