import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { AlreadyExistsError, BlobNotFoundError, InvalidArgumentError, metadataKey, parseExport } from '@blockvault/core';
import { defaultConfig, openEmbedded, openForRecovery, openVersionFromBlobStore } from '@blockvault/platform';
import { buildImage, cli } from '@blockvault/testing';
import { BS, harness, PER_SEGMENT } from './harness.ts';

describe('export, import and recovery', () => {
  it('an export, rm, import round trip gives back a restorable version', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'z', 0, 'r', 'r', 'r'], BS, 99);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', tags: ['keep'] });
    const text = JSON.stringify(await repo.repository.exportVersion(version.uid));
    await repo.repository.rm(version.uid);
    const imported = await repo.repository.importVersion(parseExport(text));
    assert.deepEqual({ ...imported }, { ...version });
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
    await assert.rejects(repo.repository.importVersion(parseExport(text)), AlreadyExistsError);
  });

  it('refuses malformed, damaged, foreign and incompatible exports with clear errors', async () => {
    const { dir, repo } = await harness();
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const doc = await repo.repository.exportVersion(version.uid);
    assert.throws(() => parseExport('{"kind": '), /not JSON/);
    assert.throws(() => parseExport('{"kind": "something-else"}'), /not a Blockvault version export/);
    assert.throws(() => parseExport(JSON.stringify({ ...doc, formatVersion: 99 })), /format version 99/);
    const edited = JSON.parse(JSON.stringify(doc)) as typeof doc;
    edited.body.version.name = 'tampered';
    assert.throws(() => parseExport(JSON.stringify(edited)), /checksum mismatch/);
    const other = await harness({ hash: 'sha256' });
    await assert.rejects(
      other.repo.repository.importVersion(doc),
      (e: unknown) => e instanceof InvalidArgumentError && /uses hash blake3/.test(e.message),
    );
  });

  it('importing into a repository that lacks the blobs marks the version invalid', async () => {
    const a = await harness();
    await writeFile(a.dir.file('a.img'), buildImage(['r', 'r'], BS));
    const { version } = await a.repo.repository.backup({ source: a.dir.url('a.img'), name: 'vm1' });
    const doc = await a.repo.repository.exportVersion(version.uid);
    const b = await harness();
    const imported = await b.repo.repository.importVersion(doc);
    assert.equal(imported.valid, false);
  });

  it('restores from the blob store alone after the metadata database is lost, and recover rebuilds it', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'z', 'r', 'r', 'r'], BS, 5);
    await writeFile(dir.file('a.img'), img);
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const v2 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm2' });
    const gone = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm3' });
    await repo.repository.rm(gone.version.uid);
    await assert.rejects(repo.blobs.get(metadataKey(gone.version.uid)), BlobNotFoundError, 'rm removes the stored copy too');
    await repo.close();
    for (const f of ['metadata.sqlite', 'metadata.sqlite-wal', 'metadata.sqlite-shm']) await rm(dir.file(`repo/${f}`), { force: true });

    const detached = await openVersionFromBlobStore(defaultConfig(dir.file('repo')), v1.version.uid);
    await detached.repository.restore({ uid: v1.version.uid, target: dir.url('out.img') });
    await detached.close();
    assert.deepEqual(await dir.read('out.img'), img);

    const recovered = await openForRecovery(defaultConfig(dir.file('repo')));
    const r = await recovered.repository.recover();
    assert.deepEqual(r.imported.sort(), [v1.version.uid, v2.version.uid].sort());
    assert.equal(recovered.repository.ctx.config.blocksPerSegment, PER_SEGMENT);
    assert.equal(recovered.repository.ctx.config.blockSize, BS);
    await recovered.repository.restore({ uid: v2.version.uid, target: dir.url('out2.img') });
    assert.deepEqual(await dir.read('out2.img'), img);
    assert.deepEqual((await recovered.repository.recover()).skipped.sort(), r.imported.sort(), 'a second recover changes nothing');
    await recovered.close();
    const reopened = await openEmbedded({ home: dir.file('repo') });
    assert.equal((await reopened.repository.ls()).length, 2);
    await reopened.close();
  });
});

describe('the detached repository through the CLI, with the configured database out of reach', () => {
  it('restore --without-metadata never opens BLOCKVAULT_MONGO_URL; recover, which writes there, reports it unavailable', async () => {
    const { dir, repo } = await harness();
    const img = buildImage(['r', 'z', 'r'], BS, 9);
    await writeFile(dir.file('a.img'), img);
    const v = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    await repo.close();
    // Nothing listens on port 1: a client that tried it would fail.
    const nowhere = { BLOCKVAULT_MONGO_URL: 'mongodb://127.0.0.1:1/nowhere' };
    const restored = await cli(
      ['--home', dir.file('repo'), 'restore', v.version.uid, dir.url('out.img'), '--without-metadata'],
      undefined,
      nowhere,
    );
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await dir.read('out.img'), img);
    const recovered = await cli(['--home', dir.file('repo'), 'recover'], undefined, nowhere);
    assert.equal(recovered.code, 6, recovered.stderr);
    assert.match(recovered.stderr, /127\.0\.0\.1:1/);
  });
});

describe('enforce and schedules on a repository', () => {
  it('removes what the rules do not keep, keeps protected versions, and a dry run removes nothing', async () => {
    const { manualClock } = await import('./harness.ts');
    const clock = manualClock('2026-03-01T10:00:00Z');
    const { dir, repo } = await harness({ clock });
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    const uids: string[] = [];
    for (const day of ['01', '02', '03', '04', '05']) {
      clock.set(`2026-03-${day}T10:00:00Z`);
      uids.push((await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' })).version.uid);
    }
    await repo.repository.setProtected(uids[0]!, true);
    const dry = await repo.repository.enforce({ latest: 2 }, { dryRun: true });
    assert.deepEqual(
      dry
        .filter((d) => !d.keep)
        .map((d) => d.version.uid)
        .sort(),
      [uids[1], uids[2]].sort(),
    );
    assert.equal((await repo.repository.ls()).length, 5);
    const done = await repo.repository.enforce({ latest: 2 });
    assert.deepEqual(
      done
        .filter((d) => d.removed)
        .map((d) => d.version.uid)
        .sort(),
      [uids[1], uids[2]].sort(),
    );
    assert.deepEqual(
      (await repo.repository.ls()).map((v) => v.uid),
      [uids[0], uids[3], uids[4]],
    );
  });

  it('stores schedules in the repository and answers due and sla', async () => {
    const { manualClock } = await import('./harness.ts');
    const clock = manualClock('2026-03-01T00:00:00Z');
    const { dir, repo } = await harness({ clock });
    await repo.repository.setSchedule({ name: 'vm1', scheduler: 'daily', intervalSeconds: 86_400, keep: 2, slaSeconds: 3600 });
    assert.deepEqual(
      (await repo.repository.due()).map((s) => s.name),
      ['vm1'],
    );
    await writeFile(dir.file('a.img'), buildImage(['r'], BS));
    await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', tags: ['daily'] });
    assert.deepEqual(await repo.repository.due(), []);
    assert.match((await repo.repository.sla())[0]!.breaches.join(), /too few backups/);
    clock.set('2026-03-02T00:00:00Z');
    await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', tags: ['daily'] });
    assert.deepEqual(await repo.repository.sla(), []);
    await repo.repository.removeSchedule('vm1', 'daily');
    assert.deepEqual(await repo.repository.schedules(), []);
  });
});
