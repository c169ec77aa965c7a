/** Leadership among scheduler replicas, on a real nats-server. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { MemoryEventBus } from '@blockvault/adapter-embedded';
import { NatsLocks, openNats } from '@blockvault/adapter-nats';
import type { Repository } from '@blockvault/core';
import { startNats, type NatsServer } from '@blockvault/testing';
import { JetStreamJobQueue } from './jetstream-queue.ts';
import { SchedulerLoop } from './scheduler.ts';

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

describe('SchedulerLoop', () => {
  it('one replica leads; when it stops, another takes over', async () => {
    const clock = { now: () => new Date() };
    const repository = { ls: async () => [], schedules: async () => [] } as unknown as Repository;
    const queue = await JetStreamJobQueue.open(nc);
    const replica = async (owner: string): Promise<SchedulerLoop> =>
      new SchedulerLoop({
        queue,
        repository,
        events: new MemoryEventBus(),
        locks: await NatsLocks.open(nc, clock),
        clock,
        owner,
        tickMs: 1000,
      });
    const [a, b] = [await replica('a'), await replica('b')];
    await a.tick();
    await b.tick();
    assert.deepEqual([a.isLeader, b.isLeader], [true, false]);
    await a.stop();
    await b.tick();
    assert.equal(b.isLeader, true);
    await b.stop();
  });
});
