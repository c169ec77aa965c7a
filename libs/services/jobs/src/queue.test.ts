/** The job-queue port's contract, run on both adapters: JetStream (a real nats-server) and in process. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { NotFoundError } from '@blockvault/core';
import { JobState, type Job, type SubmitJobRequest } from '@blockvault/proto';
import { startNats, type NatsServer } from '@blockvault/testing';
import { openNats } from '@blockvault/adapter-nats';
import { JetStreamJobQueue } from './jetstream-queue.ts';
import { MemoryJobQueue } from './memory-queue.ts';
import { isTerminal, type JobDelivery, type JobQueue } from './queue.ts';

let nats: NatsServer;
let nc: NatsConnection;
before(async () => {
  nats = await startNats();
  nc = await openNats({ url: nats.url });
});
after(async () => {
  await nc.close();
  await nats.stop();
});

const cleanup = (requestId: string): SubmitJobRequest => ({
  requestId,
  cleanup: { graceSeconds: 0, full: false, prefix: '', dryRun: true },
});

/** The next `count` deliveries, each handled by `then`. */
async function take(queue: JobQueue, count: number, then: (d: JobDelivery) => void): Promise<JobDelivery[]> {
  const seen: JobDelivery[] = [];
  let enough!: () => void;
  const done = new Promise<void>((resolve) => (enough = resolve));
  const consumer = await queue.consume(async (d) => {
    seen.push(d);
    then(d);
    if (seen.length === count) enough();
  });
  await done;
  await consumer.stop();
  return seen;
}

const adapters: [string, () => Promise<JobQueue>][] = [
  ['JetStream', () => JetStreamJobQueue.open(nc)],
  ['in process', async () => new MemoryJobQueue()],
];

for (const [name, open] of adapters) {
  const tag = name.replace(/ /g, '-');
  describe(`job queue: ${name}`, () => {
    it('a request id submitted twice is one job, delivered once', async () => {
      const queue = await open();
      const first = await queue.submit(cleanup(`twice-${tag}`), new Date('2026-01-01T00:00:00Z'));
      const again = await queue.submit(cleanup(`twice-${tag}`), new Date('2026-01-02T00:00:00Z'));
      assert.equal(again.id, first.id);
      assert.equal(again.submitted, '2026-01-01T00:00:00.000Z');
      assert.equal(await queue.pending(), 1, 'queued once');
      const [d] = await take(queue, 1, (x) => x.ack());
      assert.equal(d?.id, first.id);
      assert.equal(d?.attempt, 1);
    });

    it('a nak redelivers the job with the next attempt number', async () => {
      const queue = await open();
      const job = await queue.submit(cleanup(`nak-${tag}`), new Date());
      const deliveries = await take(queue, 2, (d) => (d.attempt === 1 ? d.nak(0) : d.ack()));
      assert.deepEqual(
        deliveries.map((d) => [d.id, d.attempt]),
        [
          [job.id, 1],
          [job.id, 2],
        ],
      );
    });

    it('updates apply to the stored job; a missing job is NotFoundError', async () => {
      const queue = await open();
      const job = await queue.submit(cleanup(`update-${tag}`), new Date());
      const updated = await queue.update(job.id, (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING, worker: 'w1' }));
      assert.equal(updated.worker, 'w1');
      assert.equal((await queue.get(job.id)).state, JobState.JOB_STATE_RUNNING);
      await assert.rejects(queue.get(`missing-${tag}`), NotFoundError);
      await assert.rejects(
        queue.update(`missing-${tag}`, (j) => j),
        NotFoundError,
      );
      assert.ok((await queue.list({ limit: 100 })).some((j) => j.id === job.id));
    });

    it('list answers the newest jobs of one state and type, up to the limit', async () => {
      const queue = await open();
      const at = (day: number): Date => new Date(`2026-03-0${day}T00:00:00Z`);
      const older = await queue.submit(cleanup(`list-old-${tag}`), at(1));
      const newer = await queue.submit(cleanup(`list-new-${tag}`), at(2));
      const scrub = await queue.submit({ requestId: `list-scrub-${tag}`, scrub: { uid: 'v', deep: false, percent: 0, source: '' } }, at(3));
      await queue.update(older.id, (j) => ({ ...j, state: JobState.JOB_STATE_FAILED }));
      const ours = (jobs: Job[]): string[] => jobs.filter((j) => j.id.startsWith('list-') && j.id.endsWith(tag)).map((j) => j.id);
      assert.deepEqual(ours(await queue.list({ limit: 100, type: 'cleanup' })), [newer.id, older.id], 'newest first');
      assert.deepEqual(ours(await queue.list({ limit: 100, state: JobState.JOB_STATE_FAILED })), [older.id]);
      assert.deepEqual(ours(await queue.list({ limit: 100, state: JobState.JOB_STATE_QUEUED, type: 'scrub' })), [scrub.id]);
      assert.equal((await queue.list({ limit: 1 })).length, 1);
      await take(queue, 3, (d) => d.ack());
    });

    it('watch yields the job, then each change until it ends; watchCancel fires on a cancel request', async () => {
      const queue = await open();
      const job = await queue.submit(cleanup(`watch-${tag}`), new Date());
      let cancelled = false;
      const cancelSeen = new Promise<void>((resolve) => {
        void queue.watchCancel(job.id, () => {
          cancelled = true;
          resolve();
        });
      });
      // Each change is made after the watch has shown the one before it.
      const watch = queue.watch(job.id)[Symbol.asyncIterator]();
      const seen: Job[] = [];
      const next = async (): Promise<void> => {
        const r = await watch.next();
        if (!r.done) seen.push(r.value);
      };
      await next();
      await queue.update(job.id, (j) => ({ ...j, state: JobState.JOB_STATE_RUNNING }));
      await next();
      await queue.update(job.id, (j) => ({ ...j, cancelRequested: true }));
      await cancelSeen;
      await next();
      await queue.update(job.id, (j) => ({ ...j, state: JobState.JOB_STATE_CANCELLED }));
      await next();
      assert.equal((await watch.next()).done, true, 'the watch ends with the job');
      assert.equal(cancelled, true);
      assert.deepEqual(
        seen.map((j) => [j.state, j.cancelRequested]),
        [
          [JobState.JOB_STATE_QUEUED, false],
          [JobState.JOB_STATE_RUNNING, false],
          [JobState.JOB_STATE_RUNNING, true],
          [JobState.JOB_STATE_CANCELLED, true],
        ],
      );
      assert.ok(isTerminal(seen.at(-1)!));
      await take(queue, 1, (d) => d.ack());
    });
  });
}
