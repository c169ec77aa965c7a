/**
 * NATS with accounts and subject permissions (a real nats-server): the services connect with
 * their credentials; a subscriber account reads events live and replays them from the stream,
 * but cannot submit jobs, read job state, or publish events of its own.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AuthenticationError } from '@blockvault/core';
import { openNats } from '@blockvault/adapter-nats';
import { serve, type Running } from '@blockvault/platform/serve';
import { buildImage, startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';
import { client, submit, testConfig, watch } from './harness.ts';

const SERVICE_PASSWORD = 'service-secret-1f9c';
const SUBSCRIBER_PASSWORD = 'subscriber-secret-77ad';

/** The subscriber account recommended in libs/adapters/nats/README.md. */
const AUTHORIZATION = `authorization {
  users = [
    { user: blockvault, password: "${SERVICE_PASSWORD}" }
    { user: subscriber, password: "${SUBSCRIBER_PASSWORD}", permissions: {
        publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.BLOCKVAULT_EVENTS", "$JS.API.CONSUMER.CREATE.BLOCKVAULT_EVENTS.>", "$JS.API.CONSUMER.INFO.BLOCKVAULT_EVENTS.>", "$JS.API.CONSUMER.MSG.NEXT.BLOCKVAULT_EVENTS.>", "$JS.API.CONSUMER.DELETE.BLOCKVAULT_EVENTS.>"] }
        subscribe: { allow: ["blockvault.events.>", "_INBOX.>"] }
    } }
  ]
}`;

let nats: NatsServer;
let dir: TempDir;
let running: Running;
let subscriber: NatsConnection;

before(async () => {
  nats = await startNats({ config: AUTHORIZATION });
  dir = await tempDir();
  running = await serve({
    target: 'all',
    config: testConfig(dir.file('home'), { natsUrl: nats.url, natsAuth: { user: 'blockvault', pass: SERVICE_PASSWORD } }),
    blockSize: 64 * 1024,
  });
  subscriber = await connect({ servers: nats.url, user: 'subscriber', pass: SUBSCRIBER_PASSWORD });
});

after(async () => {
  await subscriber?.close();
  await running?.stop();
  await nats?.stop();
  await dir?.remove();
});

describe('NATS credentials and permissions', () => {
  it('refuses a connection without credentials or with a wrong password', async () => {
    await assert.rejects(openNats({ url: nats.url }), AuthenticationError);
    await assert.rejects(
      openNats({ url: nats.url, auth: { user: 'blockvault', pass: 'guess' } }),
      (err: Error) => err instanceof AuthenticationError && !err.message.includes(SERVICE_PASSWORD),
    );
  });

  it('a subscriber reads events live and replays them, but cannot submit jobs, read jobs or forge events', async () => {
    // CloudEvents in structured JSON mode, as any CloudEvents consumer reads them.
    const live: { type: string; data: { versionUid?: string } }[] = [];
    const sub = subscriber.subscribe('blockvault.events.>', { callback: (_e, m) => void live.push(m.json()) });
    await subscriber.flush();
    await writeFile(dir.file('a.img'), buildImage(['r', 'r'], 64 * 1024));
    const c = client(running.port!);
    const job = await submit(c, {
      requestId: 'perm-1',
      backup: { source: dir.url('a.img'), name: 'vm1', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
    });
    const uid = (await watch(c, job.id)).at(-1)!.versionUid;
    await subscriber.flush();
    sub.unsubscribe();
    assert.ok(
      live.some((e) => e.type === 'io.blockvault.backup.completed' && e.data.versionUid === uid),
      'live events arrive',
    );

    const replay = await (await jetstream(subscriber).consumers.get('BLOCKVAULT_EVENTS')).fetch({ max_messages: 100, expires: 2000 });
    const replayed: string[] = [];
    for await (const m of replay) replayed.push(m.json<{ type: string }>().type);
    assert.ok(replayed.includes('io.blockvault.version.created'), `replayed ${replayed.join(', ')}`);

    const errors: string[] = [];
    void (async () => {
      for await (const s of subscriber.status())
        if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s.type));
    })();
    const operator = await openNats({ url: nats.url, auth: { user: 'blockvault', pass: SERVICE_PASSWORD } });
    const jsm = await jetstreamManager(operator);
    const jobsBefore = (await jsm.streams.info('BLOCKVAULT_JOBS')).state.messages;
    const eventsBefore = (await jsm.streams.info('BLOCKVAULT_EVENTS')).state.messages;
    subscriber.publish('blockvault.jobs.backup', JSON.stringify({ id: 'forged' }));
    subscriber.publish('blockvault.events.backup.completed', JSON.stringify({ kind: 'backup.completed', forged: true }));
    await subscriber.flush();
    await assert.rejects(
      jetstream(subscriber).publish('blockvault.jobs.backup', JSON.stringify({ id: 'forged-2' })),
      'a JetStream publish is refused too',
    );
    await assert.rejects(
      subscriber.request('$JS.API.STREAM.MSG.GET.KV_blockvault_jobs', JSON.stringify({ last_by_subj: '$KV.blockvault_jobs.perm-1' }), {
        timeout: 2000,
      }),
      'no reading job state',
    );
    assert.equal((await jsm.streams.info('BLOCKVAULT_JOBS')).state.messages, jobsBefore, 'no job was queued');
    assert.equal((await jsm.streams.info('BLOCKVAULT_EVENTS')).state.messages, eventsBefore, 'no event was forged');
    assert.ok(
      errors.some((e) => /permissions violation/i.test(e)),
      `the server reported the violations: ${errors.join('; ')}`,
    );
    await operator.close();
  });
});
