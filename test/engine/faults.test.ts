/**
 * The engine over faulty stores (Kopia-style per-method fault queues, injected beneath the
 * platform's deadline and retry wrappers where a real store's faults would come from): a blip is
 * retried away, an outage fails the backup cleanly and `--continue` finishes it, a hung store
 * trips the call deadline, and a failed metadata commit leaves nothing referenced that is not
 * durable.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { UnavailableError, type RetryPolicy } from '@blockvault/core';
import { buildImage, Faults } from '@blockvault/testing';
import type { EmbeddedRepository } from '@blockvault/platform';
import { BS, harness } from './harness.ts';

/** Retries that give up within a fraction of a second, so an outage is seen quickly. */
const quickRetry: RetryPolicy = { maxElapsedMs: 150, initialDelayMs: 10, maxDelayMs: 50 };

/** Every blob the metadata refers to is in the blob store. */
async function assertReferencedBlobsDurable(repo: EmbeddedRepository): Promise<void> {
  const records = await repo.metadata.listBlobRecords();
  assert.ok(records.length > 0, 'some blobs were recorded');
  for (const r of records) assert.ok(await repo.blobs.stat(r.uid), `blob ${r.uid} is recorded but not stored`);
}

describe('the engine over faulty stores', () => {
  it('a store that is briefly unavailable is retried: the backup succeeds and restores the same bytes', async () => {
    const faults = new Faults();
    const { dir, repo } = await harness({ wrapBlobBackend: (s) => faults.wrap(s), blobRetry: { initialDelayMs: 5 } });
    const img = buildImage(['r', 'r', 'z', 'r', 'r', 'r'], BS, 11);
    await writeFile(dir.file('a.img'), img);
    faults.fail('put', new UnavailableError('injected: store restarting'), { after: 2, times: 3 });
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' });
    assert.equal(version.valid, true);
    assert.ok(faults.calls('put') >= 5 + 3, 'the failed puts were tried again');
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('an outage longer than the retries fails the backup cleanly as unavailable; --continue finishes the same version', async () => {
    const faults = new Faults();
    const { dir, repo } = await harness({ concurrency: 1, wrapBlobBackend: (s) => faults.wrap(s), blobRetry: quickRetry });
    const img = buildImage(Array(12).fill('r'), BS, 12);
    await writeFile(dir.file('a.img'), img);
    faults.fail('put', new UnavailableError('injected: store down'), { after: 6, times: Infinity });
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' }), UnavailableError);
    const [broken] = await repo.repository.ls();
    assert.equal(broken?.valid, false, 'an interrupted version is not valid');
    await assertReferencedBlobsDurable(repo);
    faults.clear();
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: broken!.uid });
    assert.equal(version.uid, broken!.uid);
    assert.equal(version.valid, true);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
    assert.deepEqual((await repo.repository.scrub(version.uid, { deep: true })).damagedBlocks, []);
  });

  it('a store that hangs trips the call deadline instead of hanging the backup', async () => {
    const faults = new Faults();
    const { dir, repo } = await harness({
      concurrency: 1,
      wrapBlobBackend: (s) => faults.wrap(s),
      // Far above a healthy put even on a loaded machine, so only the hung put trips it.
      blobCallDeadlineMs: 1000,
      blobRetry: { maxElapsedMs: 0 },
    });
    const img = buildImage(['r', 'r', 'r'], BS, 13);
    await writeFile(dir.file('a.img'), img);
    const hung = faults.hang('put', { after: 1 });
    await assert.rejects(
      repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' }),
      (err: unknown) => err instanceof UnavailableError && /did not answer within 1000 ms/.test(err.message),
    );
    assert.ok(faults.calls('put') >= 2, 'the hung put, not the first, tripped the deadline');
    await hung.reached;
    hung.release();
    const [broken] = await repo.repository.ls();
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: broken!.uid });
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });

  it('a failed segment commit leaves only durable blobs referenced, and --continue completes the version', async () => {
    const faults = new Faults();
    const { dir, repo } = await harness({ concurrency: 2, wrapMetadata: (m) => faults.wrap(m) });
    const img = buildImage(Array(10).fill('r'), BS, 14);
    await writeFile(dir.file('a.img'), img);
    faults.fail('commitSegments', new UnavailableError('injected: database unavailable'), { after: 1 });
    await assert.rejects(repo.repository.backup({ source: dir.url('a.img'), name: 'vm1' }), UnavailableError);
    const [broken] = await repo.repository.ls();
    assert.equal(broken?.valid, false);
    await assertReferencedBlobsDurable(repo);
    const { version } = await repo.repository.backup({ source: dir.url('a.img'), name: 'vm1', continueUid: broken!.uid });
    assert.equal(version.valid, true);
    await repo.repository.restore({ uid: version.uid, target: dir.url('out.img') });
    assert.deepEqual(await dir.read('out.img'), img);
  });
});
