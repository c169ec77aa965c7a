/** The worker's handling of a job whose earlier deliveries all died, on both job-queue adapters. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { MemoryEventBus } from '@blockvault/adapter-embedded';
import type { BlockvaultEvent, Repository } from '@blockvault/core';
import { JobState } from '@blockvault/proto';
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
      const final = await queue.get(job.id);
      assert.equal(final.state, JobState.JOB_STATE_FAILED);
      assert.match(final.error, /gave up after 3 attempts/);
    });
  });
}
