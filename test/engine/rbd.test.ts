/**
 * Ceph RBD as a real source and target: an image written, snapshotted, changed and snapshotted
 * again; a full and an incremental backup with hints derived from RBD; a restore into a new image
 * that exports byte for byte like the source snapshot.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { NotFoundError, TargetExistsError, UnsupportedUrlError } from '@blockvault/core';
import { RbdIo } from '@blockvault/adapter-rbd';
import { buildImage, useCeph, type CephHandle } from '@blockvault/testing';
import { BS, harness } from './harness.ts';

const run = promisify(execFile);
let ceph: CephHandle;
before(async () => {
  ceph = await useCeph();
});
after(() => ceph.stop());

async function rbd(...args: string[]): Promise<string> {
  return (await run('rbd', args, { env: ceph.env, maxBuffer: 512 * 1024 * 1024 })).stdout;
}

async function exportDigest(spec: string): Promise<string> {
  const { stdout } = await run('rbd', ['export', spec, '-'], { env: ceph.env, encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
  return createHash('sha256').update(stdout).digest('hex');
}

describe('rbd:// backups and restores against a real Ceph', () => {
  it('backs up a snapshot, then only the changed extents of the next, and restores into a new image', async () => {
    const { dir, repo } = await harness();
    process.env['CEPH_CONF'] = ceph.env['CEPH_CONF'];
    const image = `vm-${randomBytes(3).toString('hex')}`;
    const spec = `${ceph.pool}/${image}`;
    // 24 blocks, 8 of them never written (unallocated in RBD); objects as large as blocks.
    await writeFile(
      dir.file('src.img'),
      buildImage(
        Array.from({ length: 24 }, (_, i) => (i % 3 === 2 ? 'z' : 'r')),
        BS,
      ),
    );
    await rbd('import', '--object-size', String(BS), dir.file('src.img'), spec);
    await rbd('snap', 'create', `${spec}@s1`);
    const io = new RbdIo({ env: ceph.env });
    const t = await io.openTarget(new URL(`rbd://${spec}`), { force: false, resume: true, sizeBytes: 24 * BS });
    for (const b of [1, 7, 20]) await t.write(b * BS, randomBytes(BS));
    await t.finish(24 * BS);
    await t.close();
    await rbd('snap', 'create', `${spec}@s2`);

    const v1 = await repo.repository.backup({ source: `rbd://${spec}@s1`, name: image, snapshotName: 's1' });
    assert.equal(v1.stats.blocksRead, 16, 'the first backup reads only allocated extents');
    const v2 = await repo.repository.backup({ source: `rbd://${spec}@s2`, name: image, snapshotName: 's2', fromUid: v1.version.uid });
    assert.equal(v2.stats.blocksChecked, 10);
    assert.equal(v2.stats.blocksRead - v2.stats.blocksChecked, 3, 'the incremental reads only the changed extents');
    assert.equal(v2.stats.blocksWritten, 3);

    const restored = `${ceph.pool}/${image}-restored`;
    await repo.repository.restore({ uid: v2.version.uid, target: `rbd://${restored}` });
    assert.equal(await exportDigest(restored), await exportDigest(`${spec}@s2`));
    await assert.rejects(repo.repository.restore({ uid: v2.version.uid, target: `rbd://${restored}` }), TargetExistsError);
    await repo.repository.restore({ uid: v1.version.uid, target: `rbd://${restored}`, force: true, sparse: true });
    assert.equal(await exportDigest(restored), await exportDigest(`${spec}@s1`), '--force --sparse over an existing image');
  });

  it('reports missing snapshots and refuses live images and odd names before any I/O', async () => {
    const { repo } = await harness();
    await assert.rejects(repo.repository.backup({ source: `rbd://${ceph.pool}/no-such-image@s1`, name: 'x' }), NotFoundError);
    await assert.rejects(
      repo.repository.backup({ source: `rbd://${ceph.pool}/image-without-snapshot`, name: 'x' }),
      (e: unknown) => e instanceof UnsupportedUrlError && /snapshot/.test(e.message),
    );
    await assert.rejects(repo.repository.backup({ source: `rbd://${ceph.pool}/../etc@x`, name: 'x' }), UnsupportedUrlError);
  });
});
