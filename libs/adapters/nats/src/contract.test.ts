/** The EventBus and Locks contracts against a real nats-server with JetStream. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, VersionLockedError } from '@blockvault/core';
import { collect, eventContract, eventsContract, locksContract, useNats, type NatsHandle } from '@blockvault/testing';
import { eventSource } from './cloudevents.ts';
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

describe('NATS events on the wire', () => {
  it('are CloudEvents with their id as the JetStream message id, as proto/asyncapi.yaml describes', async () => {
    const bus = await NatsEventBus.open(await connection(), { source: eventSource('test', 'worker') });
    const raw = await connection();
    const got: { subject: string; payload: string; headers: Record<string, string> }[] = [];
    const sub = raw.subscribe('blockvault.events.version.removed', {
      callback: (_e, m) => {
        const headers: Record<string, string> = {};
        for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
        got.push({ subject: m.subject, payload: m.string(), headers });
      },
    });
    await raw.flush();
    bus.publish({ kind: 'version.removed', versionUid: 'wire-1', name: 'vm1' });
    await bus.flush();
    await raw.flush();
    sub.unsubscribe();
    assert.equal(got.length, 1);
    assert.deepEqual(eventContract().problems(got[0]!), []);
    const ce = JSON.parse(got[0]!.payload) as { id: string; source: string; subject: string };
    assert.equal(got[0]!.headers['Nats-Msg-Id'], ce.id, 'a retried publish is stored once, under the event id');
    assert.equal(ce.source, 'urn:blockvault:test:worker');
    assert.equal(ce.subject, 'wire-1');
  });

  it("a subscriber skips what is not a CloudEvent of Blockvault's", async () => {
    const bus = await NatsEventBus.open(await connection());
    const seen: unknown[] = [];
    const stop = bus.subscribe('version.imported', (e) => seen.push(e['versionUid']));
    await bus.flush();
    const raw = await connection();
    raw.publish('blockvault.events.version.imported', JSON.stringify({ kind: 'version.imported', versionUid: 'forged' }));
    bus.publish({ kind: 'version.imported', versionUid: 'real', name: 'vm1' });
    await raw.flush();
    await bus.flush();
    const last = collect(bus, 'version.imported', 1);
    await bus.flush();
    bus.publish({ kind: 'version.imported', versionUid: 'last', name: 'vm1' });
    await last.events;
    last.stop();
    stop();
    assert.deepEqual(seen, ['real', 'last']);
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
