/** The worker's handling of a job whose earlier deliveries all died, on a real nats-server. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { MemoryEventBus } from '@blockvault/adapter-embedded';
import type { BlockvaultEvent, Repository } from '@blockvault/core';
import { JobState } from '@blockvault/proto';
import { collect, startNats, type NatsServer } from '@blockvault/testing';
import { openNats } from '@blockvault/adapter-nats';
import { JobQueue, JOBS_STREAM, MAX_ATTEMPTS, WORKERS_CONSUMER } from './job-queue.ts';
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

describe('Worker', () => {
  it('marks a job failed, and announces it, once its deliveries are exhausted', async () => {
    const queue = await JobQueue.open(nc);
    const job = await queue.submit({ requestId: `exhaust-${Date.now()}`, cleanup: { graceSeconds: 0, full: false, prefix: '', dryRun: true } }, new Date());
    // Workers that took the job and died: each delivery is returned unfinished.
    const consumer = await queue.js.consumers.get(JOBS_STREAM, WORKERS_CONSUMER);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const m = await consumer.next({ expires: 5000 });
      assert.ok(m, `delivery ${i + 1}`);
      m.nak();
    }
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
