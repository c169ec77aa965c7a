/** The worker's handling of a job whose earlier deliveries all died, on both job-queue adapters. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { MemoryEventBus } from '@blockvault/adapter-embedded';
import { UnavailableError, type BackupStats, type BlockvaultEvent, type Repository, type Version } from '@blockvault/core';
import { JobState, type SubmitJobRequest } from '@blockvault/proto';
import { collect, startNats, type NatsServer } from '@blockvault/testing';
import { openNats } from '@blockvault/adapter-nats';
import { JetStreamJobQueue } from './jetstream-queue.ts';
import { MemoryJobQueue } from './memory-queue.ts';
import { MAX_ATTEMPTS, type JobQueue } from './queue.ts';
import { Worker } from './worker.ts';

let nats: NatsServer;
let nc: NatsConnection;
before(async () => {
  nats = await startNats(); // its own: the job stream and its consumer must not be shared
  nc = await openNats({ url: nats.url });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

/** Workers that took the job and died: each of `count` deliveries is returned unfinished. */
async function dieOn(queue: JobQueue, count: number): Promise<void> {
  let seen = 0;
  let enough!: () => void;
  const done = new Promise<void>((resolve) => (enough = resolve));
  const consumer = await queue.consume(async (d) => {
    seen++;
    d.nak(0);
    if (seen === count) enough();
  });
  await done;
  await consumer.stop();
}

const adapters: [string, () => Promise<JobQueue>][] = [
  ['JetStream', () => JetStreamJobQueue.open(nc)],
  ['in process', async () => new MemoryJobQueue()],
];

for (const [name, open] of adapters) {
  describe(`Worker on the ${name} queue`, () => {
    it('marks a job failed, and announces it, once its deliveries are exhausted', async () => {
      const queue = await open();
      const job = await queue.submit(
        { requestId: `exhaust-${name.replace(/ /g, '-')}`, cleanup: { graceSeconds: 0, full: false, prefix: '', dryRun: true } },
        new Date(),
      );
      await dieOn(queue, MAX_ATTEMPTS);
      const events = new MemoryEventBus();
      const failed = collect(events, 'job.failed', 1);
      const notUsed = new Proxy({}, { get: () => assert.fail('the repository is not used for a job that gave up') }) as Repository;
      const worker = new Worker({ queue, repository: notUsed, events, clock: { now: () => new Date() }, owner: 'test:1' });
      await worker.start();
      const [event] = (await failed.events) as BlockvaultEvent[];
      await worker.stop();
      assert.equal(event?.['jobId'], job.id);
      assert.equal(event?.['code'], 'UNAVAILABLE', 'a failure names its error code');
      const final = await queue.get(job.id);
      assert.equal(final.state, JobState.JOB_STATE_FAILED);
      assert.match(final.error, /gave up after 3 attempts/);
    });
  });
}

describe('Worker and outages (in-process queue)', () => {
  const version = (uid: string, valid: boolean): Version => ({
    uid,
    name: 'vm1',
    snapshotName: '',
    date: new Date('2026-01-01T00:00:00Z'),
    size: 1,
    sizeBytes: 4096,
    valid,
    protected: false,
    tags: [],
    expire: null,
    stats: null,
  });
  const stats = { bytesRead: 0 } as unknown as BackupStats;

  /** A repository whose backups meet an outage `failures` times, then succeed. */
  function flaky(failures: number): { repository: Repository; continued: (string | undefined)[] } {
    const continued: (string | undefined)[] = [];
    const repository = {
      ctx: { owner: 'test-host:1' },
      getVersion: async (uid: string) => version(uid, false),
      backup: async (req: { continueUid?: string; onVersion?: (uid: string) => void }) => {
        continued.push(req.continueUid);
        req.onVersion?.('v1');
        if (continued.length <= failures) throw new UnavailableError('injected: the blob-store service is restarting');
        return { version: version('v1', true), stats };
      },
    } as unknown as Repository;
    return { repository, continued };
  }

  const backupJob = (requestId: string): SubmitJobRequest => ({
    requestId,
    backup: { source: 'file:///x.img', name: 'vm1', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
  });

  async function runOne(queue: MemoryJobQueue, repository: Repository, outageRetryMs: number, id: string): Promise<BlockvaultEvent> {
    const events = new MemoryEventBus();
    const ended = new Promise<BlockvaultEvent>((resolve) => {
      events.subscribe('job.completed', resolve);
      events.subscribe('job.failed', resolve);
    });
    const worker = new Worker({ queue, repository, events, clock: { now: () => new Date() }, owner: 'test:1', outageRetryMs });
    await queue.submit(backupJob(id), new Date());
    await worker.start();
    const event = await ended;
    await worker.stop();
    queue.close();
    return event;
  }

  it('waits out an outage within one attempt, continuing the version it started', async () => {
    const queue = new MemoryJobQueue();
    const { repository, continued } = flaky(2);
    const event = await runOne(queue, repository, 60_000, 'outage-short');
    assert.equal(event.kind, 'job.completed');
    const job = await queue.get('outage-short');
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED);
    assert.equal(job.attempts, 1, 'no attempt was spent on the outage');
    assert.deepEqual(continued, [undefined, 'v1', 'v1'], 'each retry continues the same version');
  });

  it('a redelivered restore overwrites the target its earlier delivery wrote, and only then', async () => {
    const queue = new MemoryJobQueue();
    const forced: boolean[] = [];
    const repository = {
      ctx: { owner: 'test-host:1' },
      restore: async (req: { force: boolean; onProgress?: (p: object) => void }) => {
        forced.push(req.force);
        if (forced.length === 1) {
          req.onProgress?.({
            operation: 'restore',
            versionUid: 'v1',
            blocksDone: 1,
            blocksTotal: 4,
            bytesDone: 4096,
            bytesPerSecond: 1,
            etaSeconds: 1,
          });
          throw new UnavailableError('injected: the worker lost its services after writing a block');
        }
        return {
          version: version('v1', true),
          blocksRestored: 4,
          bytesRestored: 16384,
          damagedBlocks: [],
          invalidatedVersions: [],
          durationSeconds: 1,
        };
      },
    } as unknown as Repository;
    const events = new MemoryEventBus();
    const ended = new Promise<BlockvaultEvent>((resolve) => {
      events.subscribe('job.completed', resolve);
      events.subscribe('job.failed', resolve);
    });
    const worker = new Worker({ queue, repository, events, clock: { now: () => new Date() }, owner: 'test:1', outageRetryMs: 0 });
    await queue.submit(
      { requestId: 'restore-redelivered', restore: { uid: 'v1', target: 'file:///x.img', sparse: false, force: false, continueFrom: 0 } },
      new Date(),
    );
    await worker.start();
    const event = await ended;
    await worker.stop();
    queue.close();
    assert.equal(event.kind, 'job.completed', JSON.stringify(event));
    assert.equal(event['versionUid'], 'v1', 'a job event names the version');
    assert.deepEqual(forced, [false, true], 'the first delivery refuses an existing target; the redelivery overwrites its own');
  });

  it('an outage longer than the budget spends the attempts and fails as unavailable', async () => {
    const queue = new MemoryJobQueue();
    const { repository } = flaky(Infinity);
    const event = await runOne(queue, repository, 0, 'outage-long');
    assert.equal(event.kind, 'job.failed');
    assert.equal(event['code'], 'UNAVAILABLE');
    const job = await queue.get('outage-long');
    assert.equal(job.state, JobState.JOB_STATE_FAILED);
    assert.equal(job.errorCode, 'UNAVAILABLE');
    assert.equal(job.attempts, MAX_ATTEMPTS);
  });
});
