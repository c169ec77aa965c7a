/**
 * A worker that reaches neither the source nor the store: it reads through the reader service
 * and stores through the blob-store service (gRPC streams). Every block read crosses one hop
 * (reader -> worker); only new blocks cross the second (worker -> blob-store).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '@blockvault/adapter-embedded';
import { JobState } from '@blockvault/proto';
import { serve, type Running } from '@blockvault/platform/serve';
import { buildImage, startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';
import { client, submit, testConfig, watch } from './harness.ts';

const BS = 64 * 1024;
let nats: NatsServer;
let dir: TempDir;
let blobService: Running;
let reader: Running;
let services: Running;
before(async () => {
  nats = await startNats();
  dir = await tempDir();
  blobService = await serve({ target: 'blob-store', config: testConfig(dir.file('store'), { natsUrl: nats.url }) });
  reader = await serve({ target: 'reader', config: testConfig(dir.file('reader'), { natsUrl: nats.url }) });
  const config = testConfig(dir.file('worker'), {
    natsUrl: nats.url,
    blobService: `127.0.0.1:${blobService.port}`,
    reader: `127.0.0.1:${reader.port}`,
  });
  services = await serve({ target: 'all', config, blockSize: BS, blocksPerSegment: 4 });
});
after(async () => {
  await services?.stop();
  await reader?.stop();
  await blobService?.stop();
  await nats?.stop();
  await dir?.remove();
});

async function keys(root: string): Promise<string[]> {
  const found: string[] = [];
  for await (const k of new FsBlobStore(root).list()) found.push(k);
  return found;
}

describe('the reader and blob-store services', () => {
  it('stores a worker’s new blocks and serves them back for a byte-identical restore', async () => {
    const c = client(services.port!);
    const img = buildImage(['r', 'z', 0, 'r', 1, 'r'], BS);
    await writeFile(dir.file('a.img'), img);
    const backup = await submit(c, {
      requestId: `bs-${Date.now()}`,
      backup: { source: dir.url('a.img'), name: 'vm', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
    });
    const done = (await watch(c, backup.id)).at(-1)!;
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error);
    const stats = (JSON.parse(done.resultJson) as { stats: { blocksWritten: number; blocksDedup: number } }).stats;
    assert.deepEqual([stats.blocksWritten, stats.blocksDedup], [3, 1], 'block 2 repeats block 0; blocks 1 and 4 are zero');
    assert.equal((await keys(dir.file('store/blobs'))).length, 3, 'only new blocks reached the store');
    assert.equal((await keys(dir.file('worker/blobs'))).length, 0, 'the worker stored nothing locally');
    const uid = (JSON.parse(done.resultJson) as { version: { uid: string } }).version.uid;
    const restore = await submit(c, {
      requestId: `bs-r-${Date.now()}`,
      restore: { uid, target: dir.url('out.img'), sparse: false, force: false, continueFrom: 0 },
    });
    assert.equal((await watch(c, restore.id)).at(-1)!.state, JobState.JOB_STATE_SUCCEEDED);
    assert.deepEqual(await readFile(dir.file('out.img')), img);
    const bad = await submit(c, {
      requestId: `bs-x-${Date.now()}`,
      restore: { uid, target: dir.url('out.img'), sparse: false, force: false, continueFrom: 0 },
    });
    const failed = (await watch(c, bad.id)).at(-1)!;
    assert.deepEqual(
      [failed.state, failed.errorCode],
      [JobState.JOB_STATE_FAILED, 'ALREADY_EXISTS'],
      'the reader refused the existing target, and the error came back typed',
    );
  });
});
