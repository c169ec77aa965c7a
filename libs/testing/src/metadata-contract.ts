/**
 * The MetadataStore contract, by port (RepositorySettings, VersionCatalog, BlockMapStore,
 * BlobIndex, SessionStore, CleanupStore): every adapter (SQLite, MongoDB/FerretDB, the metadata
 * service) runs this suite, and it calls every method of every port. `open` returns a fresh,
 * empty store; the groups run in order on it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  NotFoundError,
  SessionExpiredError,
  VersionNotFoundError,
  type MetadataStore,
  type RepositoryConfig,
  type Version,
} from '@blockvault/core';

const config: RepositoryConfig = {
  formatVersion: 1,
  hash: 'blake3',
  blockSize: 4096,
  blocksPerSegment: 4,
  disallowRmWhenYoungerThanDays: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
};

function version(uid: string, overrides: Partial<Version> = {}): Version {
  return {
    uid,
    name: 'vm1',
    snapshotName: 'snap',
    date: new Date('2026-03-01T10:00:00Z'),
    size: 8,
    sizeBytes: 8 * 4096,
    valid: false,
    protected: false,
    tags: ['b_daily'],
    expire: null,
    stats: null,
    ...overrides,
  };
}

const digest = (): Buffer => randomBytes(32);

export function metadataContract(name: string, open: () => Promise<MetadataStore>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let store: MetadataStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    describe('repository config and settings (RepositorySettings)', () => {
      it('keeps the first repository config and returns it to later writers', async () => {
        assert.equal(await store.getConfig(), undefined);
        assert.deepEqual(await store.initConfig(config), config);
        assert.deepEqual(await store.initConfig({ ...config, hash: 'sha256' }), config);
      });

      it('keeps settings as JSON values by key', async () => {
        assert.equal(await store.getSetting('schedules'), undefined);
        await store.putSetting('schedules', [{ name: 'vm1', keep: 3 }]);
        assert.deepEqual(await store.getSetting('schedules'), [{ name: 'vm1', keep: 3 }]);
        await store.putSetting('schedules', []);
        assert.deepEqual(await store.getSetting('schedules'), []);
      });
    });

    describe('version catalog (VersionCatalog)', () => {
      it('creates, reads, filters, updates and deletes versions', async () => {
        await store.createVersion(version('v-a', { tags: ['x', 'y'] }));
        await store.createVersion(version('v-b', { name: 'vm2', date: new Date('2026-03-02T00:00:00Z'), snapshotName: 'other' }));
        const a = await store.getVersion('v-a');
        assert.deepEqual(a, version('v-a', { tags: ['x', 'y'] }));
        assert.deepEqual(
          (await store.listVersions({ name: 'vm2' })).map((v) => v.uid),
          ['v-b'],
        );
        assert.deepEqual(
          (await store.listVersions({ tag: 'y' })).map((v) => v.uid),
          ['v-a'],
        );
        assert.deepEqual(
          (await store.listVersions({ snapshotName: 'other' })).map((v) => v.uid),
          ['v-b'],
        );
        const expire = new Date('2027-01-01T00:00:00Z');
        await store.updateVersion('v-a', { valid: true, protected: true, expire, tags: ['z'] });
        const updated = await store.getVersion('v-a');
        assert.equal(updated.valid, true);
        assert.equal(updated.protected, true);
        assert.deepEqual(updated.expire, expire);
        assert.deepEqual(updated.tags, ['z']);
        await store.deleteVersion('v-b', new Date());
        await assert.rejects(store.getVersion('v-b'), VersionNotFoundError);
        await assert.rejects(store.updateVersion('v-b', { valid: true }), VersionNotFoundError);
        await assert.rejects(store.deleteVersion('v-b', new Date()), VersionNotFoundError);
      });

      it('deleting a version forgets its segment pointers', async () => {
        await store.createVersion(version('v-del'));
        await store.commitSegments('v-del', [{ segNo: 0, segId: digest(), sparseBlocks: 0, data: digest() }], []);
        await store.deleteVersion('v-del', new Date());
        assert.equal((await store.getVersionSegments('v-del')).size, 0);
      });
    });

    describe('block map (BlockMapStore)', () => {
      it('records segments with their blobs and shares identical segments between versions', async () => {
        await store.createVersion(version('v-seg'));
        const [c1, c2] = [digest(), digest()];
        const data = Buffer.concat([c1, Buffer.alloc(32), c2, c1]);
        const segId = digest();
        await store.commitSegments(
          'v-seg',
          [{ segNo: 0, segId, sparseBlocks: 1, data }],
          [
            { checksum: c1, uid: 'aa01', size: 4096, valid: true },
            { checksum: c2, uid: 'aa02', size: 4096, valid: true },
          ],
        );
        await store.commitSegments('v-seg', [{ segNo: 1, segId, sparseBlocks: 1 }], []);
        const pointers = await store.getVersionSegments('v-seg');
        assert.deepEqual([...pointers.keys()].sort(), [0, 1]);
        assert.deepEqual(pointers.get(1), { segId, sparseBlocks: 1 });
        assert.deepEqual(await store.getSegments([segId]), [data]);
        await assert.rejects(store.getSegments([digest()]), NotFoundError);
        const found = await store.lookupBlobs([c2, digest(), c1]);
        assert.equal(found[0]?.uid, 'aa02');
        assert.equal(found[1], undefined);
        assert.deepEqual({ ...found[2], checksum: undefined }, { checksum: undefined, uid: 'aa01', size: 4096, valid: true });
      });
    });

    describe('blob index (BlobIndex)', () => {
      it('invalidates a blob in every version that uses it, and a fresh copy makes it valid again', async () => {
        const c = digest();
        const segA = Buffer.concat([c, digest()]);
        const segB = Buffer.concat([digest(), c]);
        await store.createVersion(version('v-i1', { valid: true }));
        await store.createVersion(version('v-i2', { valid: true }));
        await store.createVersion(version('v-i3', { valid: true }));
        await store.commitSegments(
          'v-i1',
          [{ segNo: 0, segId: digest(), sparseBlocks: 0, data: segA }],
          [{ checksum: c, uid: 'bb01', size: 4096, valid: true }],
        );
        await store.commitSegments('v-i2', [{ segNo: 3, segId: digest(), sparseBlocks: 0, data: segB }], []);
        await store.commitSegments('v-i3', [{ segNo: 0, segId: digest(), sparseBlocks: 0, data: Buffer.concat([digest(), digest()]) }], []);
        assert.deepEqual(await store.invalidateBlob(c, 'bb01'), ['v-i1', 'v-i2']);
        assert.equal((await store.getVersion('v-i1')).valid, false);
        assert.equal((await store.getVersion('v-i3')).valid, true);
        assert.ok((await store.listInvalidChecksums()).some((x) => x.equals(c)));
        assert.equal((await store.lookupBlobs([c]))[0]?.valid, false);
        await store.commitSegments('v-i3', [], [{ checksum: c, uid: 'bb02', size: 4096, valid: true }]);
        assert.deepEqual((await store.lookupBlobs([c]))[0]?.uid, 'bb02');
        assert.ok(!(await store.listInvalidChecksums()).some((x) => x.equals(c)));
        assert.deepEqual(await store.invalidateBlob(c, 'bb01'), [], 'the replaced copy no longer damages anything');
      });

      it('claims only live blobs: a condemned blob is not offered for deduplication', async () => {
        const c = digest();
        await store.createVersion(version('v-claim'));
        await store.commitSegments('v-claim', [], [{ checksum: c, uid: 'dd01', size: 4096, valid: true }]);
        assert.equal((await store.claimBlobs([c], new Date()))[0]?.uid, 'dd01');
        assert.equal(await store.condemnBlob(c, 'dd01', new Date(0)), false, 'touched after the cutoff');
        assert.equal(await store.condemnBlob(c, 'dd01', new Date(Date.now() + 60_000)), true);
        assert.equal((await store.claimBlobs([c], new Date()))[0], undefined);
        await store.forgetBlob(c, 'dd01');
        assert.equal((await store.lookupBlobs([c]))[0], undefined);
      });
    });

    describe('backup sessions (SessionStore)', () => {
      it('refuses to remove the base of a live session, and fences commits of an expired one', async () => {
        const now = new Date();
        await store.createVersion(version('v-base'));
        await store.createVersion(version('v-new'));
        await store.openSession({
          id: 's1',
          versionUid: 'v-new',
          baseUid: 'v-base',
          started: now,
          expires: new Date(now.getTime() + 60_000),
        });
        await assert.rejects(store.deleteVersion('v-base', now), /base of a running backup/);
        const later = new Date(now.getTime() + 120_000);
        await assert.rejects(store.commitSegments('v-new', [], [], { sessionId: 's1', now: later }), /expired/);
        assert.deepEqual(await store.liveSessions(later), []);
        await store.deleteVersion('v-base', later);
      });

      it('renews a session until it is closed; a closed session cannot be renewed', async () => {
        const now = new Date('2026-05-01T00:00:00Z');
        await store.createVersion(version('v-sess'));
        await store.openSession({
          id: 's-renew',
          versionUid: 'v-sess',
          baseUid: null,
          started: now,
          expires: new Date(now.getTime() + 1000),
        });
        const later = new Date(now.getTime() + 5000);
        await store.renewSession('s-renew', new Date(later.getTime() + 1000), now);
        assert.deepEqual(
          (await store.liveSessions(later)).map((x) => x.id),
          ['s-renew'],
          'renewed past `later`',
        );
        await store.closeSession('s-renew');
        assert.deepEqual(await store.liveSessions(now), []);
        await assert.rejects(store.renewSession('s-renew', later, now), SessionExpiredError);
      });
    });

    describe('cleanup bookkeeping (CleanupStore)', () => {
      it('a second sound copy of a recorded blob becomes an orphan; the recorded copy stays in use', async () => {
        const c = digest();
        await store.createVersion(version('v-copy'));
        await store.commitSegments('v-copy', [], [{ checksum: c, uid: 'cc01', size: 4096, valid: true }]);
        await store.commitSegments('v-copy', [], [{ checksum: c, uid: 'cc02', size: 4096, valid: true }]);
        await store.commitSegments('v-copy', [], [{ checksum: c, uid: 'cc01', size: 4096, valid: true }]);
        assert.equal((await store.lookupBlobs([c]))[0]?.uid, 'cc01');
        const orphans = (await store.listOrphans()).map((o) => o.uid);
        assert.ok(orphans.includes('cc02') && !orphans.includes('cc01'), `orphans: ${orphans.join(', ')}`);
      });

      it('cleanup bookkeeping: referenced segments, unreferenced marks on blobs, orphans forgotten', async () => {
        const kept = digest();
        const dropped = digest();
        await store.createVersion(version('v-keep'));
        await store.createVersion(version('v-drop'));
        await store.commitSegments('v-keep', [{ segNo: 0, segId: kept, sparseBlocks: 0, data: digest() }], []);
        await store.commitSegments('v-drop', [{ segNo: 0, segId: dropped, sparseBlocks: 0, data: digest() }], []);
        const hex = async (): Promise<string[]> => (await store.referencedSegmentIds()).map((b) => b.toString('hex'));
        assert.ok((await hex()).includes(kept.toString('hex')) && (await hex()).includes(dropped.toString('hex')));
        await store.deleteVersion('v-drop', new Date());
        assert.ok(!(await hex()).includes(dropped.toString('hex')), 'a deleted version no longer references its segment');
        assert.ok((await hex()).includes(kept.toString('hex')));
        // What it reports dropped is gone (a store may keep a just-unreferenced segment for a fence
        // margin, so the dropped one may still be there; never the referenced one, checked below).
        const dropCount = await store.deleteUnreferencedSegments();
        const droppedGone = await store.getSegments([dropped]).then(
          () => false,
          (err: unknown) => err instanceof NotFoundError,
        );
        assert.ok(
          dropCount >= (droppedGone ? 1 : 0),
          `reported ${dropCount}, the unreferenced segment ${droppedGone ? 'is' : 'is not'} gone`,
        );
        assert.deepEqual(await store.getSegments([kept]).then((b) => b.length), 1, 'a referenced segment is never dropped');

        const [a, b] = [digest(), digest()];
        await store.commitSegments(
          'v-keep',
          [],
          [
            { checksum: a, uid: 'ee01', size: 4096, valid: true },
            { checksum: b, uid: 'ee02', size: 4096, valid: true },
          ],
        );
        const since = new Date('2026-06-01T00:00:00Z');
        await store.markUnreferenced([a, b], [], since);
        await store.markUnreferenced([], [b], since);
        const records = new Map((await store.listBlobRecords()).map((r) => [r.uid, r]));
        assert.equal(records.get('ee01')?.unreferencedSince?.getTime(), since.getTime());
        assert.equal(records.get('ee02')?.unreferencedSince, null, 'marked referenced again');
        assert.equal(records.get('ee01')?.state, 'live');

        const c = digest();
        await store.commitSegments('v-keep', [], [{ checksum: c, uid: 'ff01', size: 4096, valid: true }]);
        await store.commitSegments('v-keep', [], [{ checksum: c, uid: 'ff02', size: 4096, valid: true }]);
        assert.ok((await store.listOrphans()).some((o) => o.uid === 'ff02'));
        await store.forgetOrphans(['ff02']);
        assert.ok(!(await store.listOrphans()).some((o) => o.uid === 'ff02'));
      });
    });
  });
}
