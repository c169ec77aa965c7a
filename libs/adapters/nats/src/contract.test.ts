/** The EventBus and Locks contracts against a real nats-server with JetStream. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, VersionLockedError } from '@blockvault/core';
import { eventsContract, locksContract, useNats, type NatsHandle } from '@blockvault/testing';
import { NatsEventBus } from './nats-events.ts';
import { NatsLocks } from './nats-locks.ts';
import { NatsReaderDirectory } from './nats-readers.ts';
import { openNats } from './open.ts';

let nats: NatsHandle;
const connections: NatsConnection[] = [];
before(async () => {
  nats = await useNats();
});
after(async () => {
  for (const nc of connections) await nc.close();
  await nats.stop();
});
async function connection(): Promise<NatsConnection> {
  const nc = await openNats({ url: nats.url });
  connections.push(nc);
  return nc;
}

eventsContract('NATS JetStream', async () => NatsEventBus.open(await connection()));
locksContract('NATS KV leases', async (clock, options) => NatsLocks.open(await connection(), clock, options));

describe('NATS events for late subscribers', () => {
  it('a subscriber that connects after the events were published replays them from the stream', async () => {
    const publisher = await NatsEventBus.open(await connection());
    const marker = `late-${Date.now()}`;
    publisher.publish({ kind: 'version.removed', versionUid: `${marker}-1` });
    publisher.publish({ kind: 'version.removed', versionUid: `${marker}-2` });
    await publisher.flush();
    const late = await NatsEventBus.open(await connection());
    const seen: unknown[] = [];
    for await (const e of late.replay('version.removed')) if (String(e['versionUid']).startsWith(marker)) seen.push(e['versionUid']);
    assert.deepEqual(seen, [`${marker}-1`, `${marker}-2`]);
  });
});

describe('NATS locks when NATS is out of reach', () => {
  it('taking a lock fails as unavailable, not as held by somebody else', async () => {
    const nc = await openNats({ url: nats.url });
    const locks = await NatsLocks.open(nc, { now: () => new Date() });
    await nc.close();
    await assert.rejects(
      locks.acquire('version:gone-nats', { owner: 'test' }),
      (err: unknown) => err instanceof UnavailableError && !(err instanceof VersionLockedError),
    );
  });
});

describe('NATS reader directory', () => {
  it('lists the readers that announced themselves, and forgets one that stops', async () => {
    const directory = await NatsReaderDirectory.open(await connection());
    const id = `test-${Date.now()}`;
    const a = await directory.announce({ id: `${id}-a`, address: 'a:1', roots: ['/srv/a'], pools: [] });
    const b = await directory.announce({ id: `${id}-b`, address: 'b:1', roots: [], pools: ['rbd'] });
    const mine = async (): Promise<string[]> => (await directory.live()).filter((r) => r.id.startsWith(id)).map((r) => r.address);
    assert.deepEqual(await mine(), ['a:1', 'b:1']);
    await a.stop();
    assert.deepEqual(await mine(), ['b:1'], 'a reader that stops is gone at once');
    await b.stop();
  });
});
