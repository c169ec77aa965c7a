/**
 * Several processes back up, remove and clean up one repository at random; at the end every
 * surviving valid version must restore byte for byte.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { openEmbedded } from '@blockvault/platform';
import { tempDir } from '@blockvault/testing';
import { BS, PER_SEGMENT } from './harness.ts';

const WORKERS = 3;
const ITERATIONS = 80;

function run(args: string[]): Promise<Record<string, number>> {
  return new Promise((done, fail) => {
    execFile(process.execPath, [resolve(import.meta.dirname, 'stress-worker.ts'), ...args], (err, stdout, stderr) => {
      if (err) fail(new Error(`worker ${args[2]} failed: ${stderr}`));
      else done(JSON.parse(stdout) as Record<string, number>);
    });
  });
}

describe('cleanup under concurrent backups, removals and cleanups in several processes', () => {
  it('never deletes a blob a surviving version references', async () => {
    const dir = await tempDir();
    after(() => dir.remove());
    const home = dir.file('repo');
    await mkdir(dir.file('expected'));
    const setup = await openEmbedded({ home, blockSize: BS, blocksPerSegment: PER_SEGMENT });
    await setup.close();
    const seed = Number(process.env['BLOCKVAULT_STRESS_SEED'] ?? Date.now() % 1_000_000);
    const results = await Promise.all(
      Array.from({ length: WORKERS }, (_, w) => run([home, dir.path, String(w), String(ITERATIONS), String(seed + w)])),
    );
    console.log(JSON.stringify({ seed, results }));
    const total = (k: string): number => results.reduce((sum, r) => sum + (r[k] ?? 0), 0);
    assert.ok(
      total('backup') + total('incremental') > 0 && total('cleanup') > 0 && total('rm') > 0,
      `too little happened (seed ${seed}): ${JSON.stringify(results)}`,
    );

    const repo = await openEmbedded({ home });
    after(() => repo.close());
    const final = await repo.repository.cleanup({ graceSeconds: 0 });
    assert.ok(total('blobsDeleted') + final.blobsDeleted > 0, `nothing was ever deleted (seed ${seed})`);
    const versions = (await repo.repository.ls()).filter((v) => v.valid);
    assert.ok(versions.length > 0);
    for (const v of versions) {
      const result = await repo.repository.restore({ uid: v.uid, target: dir.url(`restored-${v.uid}`) });
      if (result.damagedBlocks.length > 0) {
        const blocks = await repo.repository.blocks(v.uid);
        for (const id of result.damagedBlocks) {
          const b = blocks[id]!;
          const recs = (await repo.metadata.listBlobRecords()).filter((r) => r.checksum.toString('hex') === b.checksum);
          console.log(
            'DAMAGE',
            v.uid,
            id,
            b,
            recs,
            b.uid ? await repo.blobs.stat(b.uid) : null,
            JSON.stringify(await repo.metadata.listOrphans()),
          );
        }
      }
      assert.deepEqual(result.damagedBlocks, [], `version ${v.uid} lost blocks (seed ${seed})`);
      assert.deepEqual(await dir.read(`restored-${v.uid}`), await dir.read(`expected/${v.uid}`), `version ${v.uid} differs (seed ${seed})`);
    }
  });
});
