/**
 * The engine on the real stores: metadata in FerretDB (MongoDB wire protocol) and blobs in Ceph's
 * RADOS Gateway (S3), started by infra/local/with-servers.ts (or by this file when run alone).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { defaultConfig, openRepository, type OpenRepository, type RepositoryOptions } from '@blockvault/platform';
import { buildImage, Gate, overwrite, tempDir, useMongo, useS3, type MongoHandle, type S3Handle, type TempDir } from '@blockvault/testing';
import { BS, PER_SEGMENT } from './harness.ts';

let mongo: MongoHandle;
let s3: S3Handle;
before(async () => {
  [mongo, s3] = await Promise.all([useMongo(), useS3()]);
});
after(async () => {
  await Promise.all([mongo?.stop(), s3?.stop()]);
});

async function open(dir: TempDir, extra: RepositoryOptions = {}): Promise<OpenRepository> {
  const id = randomBytes(4).toString('hex');
  const config = defaultConfig(dir.file('home'));
  const stores = {
    ...config.stores,
    metadata: { mongo: { url: mongo.url, database: `bv_e2e_${id}` } },
    blobs: { ...config.stores.blobs, s3: { ...s3.config, bucket: `bv-e2e-${id}` } },
  };
  const repo = await openRepository({ ...config, stores }, { blockSize: BS, blocksPerSegment: PER_SEGMENT, ...extra });
  after(() => repo.close());
  return repo;
}

async function count(blobs: { list(): AsyncIterable<string> }): Promise<number> {
  let n = 0;
  for await (const key of blobs.list()) if (key) n++;
  return n;
}

describe('engine on FerretDB + Ceph RGW', () => {
  it('backs up fully and incrementally, restores both byte for byte, and keeps only distinct blobs', async () => {
    const dir = await tempDir();
    after(() => dir.remove());
    const repo = await open(dir);
    const img = buildImage(['r', 'z', 0, 'r', 'r', 'z', 3, 'r', 'r', 'r'], BS, 777);
    await writeFile(dir.file('a.img'), img);
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.deepEqual({ w: v1.stats.blocksWritten, d: v1.stats.blocksDedup, s: v1.stats.blocksSparse }, { w: 7, d: 2, s: 2 });
    assert.equal(await count(repo.blobs), 7);
    await overwrite(dir.file('a.img'), 4 * BS, buildImage(['r'], BS));
    const v2 = await repo.repository.backup({
      source: dir.url('a.img'),
      name: 'vm1',
      fromUid: v1.version.uid,
      hints: [{ offset: 4 * BS, length: BS, exists: true }],
    });
    assert.equal(v2.stats.blocksWritten, 1);
    await repo.repository.restore({ uid: v1.version.uid, target: dir.url('v1.img') });
    await repo.repository.restore({ uid: v2.version.uid, target: dir.url('v2.img') });
    assert.deepEqual(await dir.read('v1.img'), img);
    assert.deepEqual(await dir.read('v2.img'), await dir.read('a.img'));
  });

  it('a deep scrub finds a corrupted object, the restore reports it, and the next backup repairs it', async () => {
    const dir = await tempDir();
    after(() => dir.remove());
    const repo = await open(dir);
    const img = buildImage(['r', 'r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const v1 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const [, block] = await repo.repository.blocks(v1.version.uid);
    const stored = await repo.blobs.get(block!.uid!);
    stored[stored.length - 10]! ^= 1;
    await repo.blobs.put(block!.uid!, [stored]);
    const scrub = await repo.repository.scrub(v1.version.uid, { deep: true });
    assert.deepEqual(scrub.damagedBlocks, [1]);
    assert.equal((await repo.repository.getVersion(v1.version.uid)).valid, false);
    const restored = await repo.repository.restore({ uid: v1.version.uid, target: dir.url('out.img') });
    assert.deepEqual(restored.damagedBlocks, [1]);
    const v2 = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(v2.stats.blocksWritten, 1);
    const again = await repo.repository.scrub(v1.version.uid, { deep: true });
    assert.equal(again.valid, true, 'the fresh copy repairs the old version too');
    await repo.repository.restore({ uid: v1.version.uid, target: dir.url('out2.img') });
    assert.deepEqual(await dir.read('out2.img'), img);
  });

  it('cleanup deletes the objects of removed versions and spares a blob a running backup claimed', async () => {
    const dir = await tempDir();
    after(() => dir.remove());
    const gate = new Gate();
    const repo = await open(dir, { wrapMetadata: (m) => gate.wrap(m) });
    const img = buildImage(['r', 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    await writeFile(dir.file('b.img'), buildImage(['r', 'r'], BS));
    const a = await repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    const b = await repo.repository.backup({ source: dir.url('b.img'), name: 'b' });
    await repo.repository.rm(b.version.uid);
    const commit = gate.next('commitSegments');
    const running = repo.repository.backup({ source: dir.url('a.img'), name: 'a' });
    await commit.reached;
    await repo.repository.rm(a.version.uid);
    const result = await repo.repository.cleanup({ graceSeconds: 0 });
    assert.equal(result.blobsDeleted, 2, "b's blobs go");
    assert.equal(result.spared, 2, "a's blobs were claimed by the running backup");
    commit.release();
    const { version } = await running;
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
    assert.equal(await count(repo.blobs), 2);
  });

  it('export and import round-trip through MongoDB', async () => {
    const dir = await tempDir();
    after(() => dir.remove());
    const repo = await open(dir);
    const img = buildImage(['r', 'z', 'r'], BS, 5);
    await writeFile(dir.file('a.img'), img);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    const doc = await repo.repository.exportVersion(version.uid);
    await repo.repository.rm(version.uid);
    const imported = await repo.repository.importVersion(doc);
    assert.equal(imported.valid, true);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });
});
