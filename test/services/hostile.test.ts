/**
 * Hostile job requests against the job API of a deployment whose I/O is confined
 * (BLOCKVAULT_IO_ROOTS: one directory and one RBD pool): each is refused with a clear status
 * before it is queued, and nothing outside the roots is read or written.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ListJobsRequest, ListJobsResponse, SubmitJobRequest } from '@blockvault/proto';
import { serve, type Running } from '@blockvault/platform/serve';
import { buildImage, startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';
import { call, client, submit, testConfig, watch } from './harness.ts';

const BS = 64 * 1024;
let nats: NatsServer;
let dir: TempDir;
let running: Running;
let root = '';
let outside = '';

before(async () => {
  nats = await startNats();
  dir = await tempDir();
  root = dir.file('images');
  outside = dir.file('outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(`${root}/vm1.img`, buildImage(['r', 'r'], BS));
  await writeFile(`${outside}/secret.img`, Buffer.alloc(BS, 's'));
  await symlink(`${outside}/secret.img`, `${root}/sneaky.img`);
  await symlink(outside, `${root}/escape`);
  running = await serve({
    target: 'all',
    config: testConfig(dir.file('home'), { natsUrl: nats.url, ioRoots: { paths: [root], pools: ['allowed'] } }),
    blockSize: BS,
  });
});

after(async () => {
  await running?.stop();
  await nats?.stop();
  await dir?.remove();
});

const backup = (source: string, extra: Partial<NonNullable<SubmitJobRequest['backup']>> = {}): SubmitJobRequest => ({
  requestId: '',
  backup: { source, name: 'vm1', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '', ...extra },
});
const restore = (uid: string, target: string): SubmitJobRequest => ({
  requestId: '',
  restore: { uid, target, sparse: false, force: true, continueFrom: 0 },
});

describe('hostile job requests', () => {
  it('are refused before they are queued, each with a clear status', async () => {
    const c = client(running.port!);
    const good = await submit(c, backup(`file://${root}/vm1.img`));
    const done = (await watch(c, good.id)).at(-1)!;
    const uid = done.versionUid;
    assert.ok(uid, 'a request inside the roots runs');
    const table: [string, SubmitJobRequest, grpc.status, RegExp][] = [
      [
        'a path outside the roots',
        backup(`file://${outside}/secret.img`),
        grpc.status.PERMISSION_DENIED,
        /outside this reader's I\/O roots/,
      ],
      ['/etc/passwd', backup('file:///etc/passwd'), grpc.status.PERMISSION_DENIED, /outside/],
      ['.. traversal', backup(`file://${root}/../outside/secret.img`), grpc.status.INVALID_ARGUMENT, /\. or \.\. segments/],
      ['encoded .. traversal', backup(`file://${root}/%2e%2e/outside/secret.img`), grpc.status.INVALID_ARGUMENT, /\. or \.\. segments/],
      ['a symlink to a file outside', backup(`file://${root}/sneaky.img`), grpc.status.PERMISSION_DENIED, /really .*outside\/secret\.img/],
      [
        'a restore through a symlinked directory',
        restore(uid, `file://${root}/escape/planted.img`),
        grpc.status.PERMISSION_DENIED,
        /outside/,
      ],
      ['a restore over a symlink to a file outside', restore(uid, `file://${root}/sneaky.img`), grpc.status.PERMISSION_DENIED, /outside/],
      ['a file URL with a host', backup(`file://evil.example${root}/vm1.img`), grpc.status.INVALID_ARGUMENT, /three slashes/],
      ['another scheme', backup('http://127.0.0.1/vm1.img'), grpc.status.INVALID_ARGUMENT, /not supported/],
      ['credentials in a file URL', backup(`file://user:pw@localhost${root}/vm1.img`), grpc.status.INVALID_ARGUMENT, /not a URL/],
      ['credentials in an RBD URL', backup('rbd://user:pw@allowed/img@snap'), grpc.status.INVALID_ARGUMENT, /credentials/],
      ['a query string', backup(`file://${root}/vm1.img?x=1`), grpc.status.INVALID_ARGUMENT, /query/],
      ['an RBD pool outside the roots', backup('rbd://other/img@snap'), grpc.status.PERMISSION_DENIED, /pool other is outside/],
      ['a volume name too long', backup(`file://${root}/vm1.img`, { name: 'v'.repeat(300) }), grpc.status.INVALID_ARGUMENT, /invalid name/],
      ['a volume name with a slash', backup(`file://${root}/vm1.img`, { name: '../vm' }), grpc.status.INVALID_ARGUMENT, /invalid name/],
      ['a bad tag', backup(`file://${root}/vm1.img`, { tags: ['ok', 'not ok'] }), grpc.status.INVALID_ARGUMENT, /invalid tag/],
      [
        'too many tags',
        backup(`file://${root}/vm1.img`, { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }),
        grpc.status.INVALID_ARGUMENT,
        /at most 64/,
      ],
      [
        'hints that are not JSON',
        backup(`file://${root}/vm1.img`, { hintsJson: '{"offset":' }),
        grpc.status.INVALID_ARGUMENT,
        /not valid JSON/,
      ],
      [
        'a negative hint',
        backup(`file://${root}/vm1.img`, { hintsJson: '[{"offset":-1,"length":1,"exists":"true"}]' }),
        grpc.status.INVALID_ARGUMENT,
        /non-negative/,
      ],
      ['an expiry that is not a date', backup(`file://${root}/vm1.img`, { expire: 'tomorrow' }), grpc.status.INVALID_ARGUMENT, /ISO 8601/],
      ['an unknown version', restore('no-such-version', `file://${root}/out.img`), grpc.status.NOT_FOUND, /not found/],
      ['a request id with spaces', { ...backup(`file://${root}/vm1.img`), requestId: 'a b' }, grpc.status.INVALID_ARGUMENT, /request_id/],
      [
        'a scrub percentage over 100',
        { requestId: '', scrub: { uid, deep: false, percent: 150, source: '' } },
        grpc.status.INVALID_ARGUMENT,
        /scrub\.percent/,
      ],
      [
        'a negative scrub percentage',
        { requestId: '', scrub: { uid, deep: true, percent: -1, source: '' } },
        grpc.status.INVALID_ARGUMENT,
        /scrub\.percent/,
      ],
      [
        'retention rules that do not parse',
        { requestId: '', enforce: { rules: 'keep-everything', name: '', dryRun: true, timeZone: '' } },
        grpc.status.INVALID_ARGUMENT,
        /rule/,
      ],
      [
        'an unknown time zone',
        { requestId: '', enforce: { rules: 'latest3', name: '', dryRun: true, timeZone: 'Mars/Olympus' } },
        grpc.status.INVALID_ARGUMENT,
        /time zone/,
      ],
    ];
    const before = (await call<ListJobsRequest, ListJobsResponse>(c.listJobs.bind(c), { limit: 1000, state: 0, type: '' })).jobs.length;
    for (const [what, req, status, message] of table) {
      const err = await submit(c, req).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      assert.equal(err?.code, status, `${what}: ${err?.details ?? 'accepted'}`);
      assert.match(err!.details, message, what);
    }
    const after = (await call<ListJobsRequest, ListJobsResponse>(c.listJobs.bind(c), { limit: 1000, state: 0, type: '' })).jobs.length;
    assert.equal(after, before, 'none of them was queued');
    assert.deepEqual(await readFile(`${outside}/secret.img`), Buffer.alloc(BS, 's'), 'nothing outside was touched');
  });

  it('job ids that cannot exist are INVALID_ARGUMENT, never INTERNAL, and a long one is not echoed whole', async () => {
    const c = client(running.port!);
    for (const id of ['*', '>', 'a b', 'x'.repeat(10_000)]) {
      for (const [method, fn] of [
        ['GetJob', c.getJob.bind(c)],
        ['CancelJob', c.cancelJob.bind(c)],
      ] as const) {
        const err = await call<{ id: string }, unknown>(fn, { id }).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${method}(${id.slice(0, 10)}): ${err?.details}`);
        assert.ok(err!.details.length < 300, `${method}: the message is short`);
      }
      const watched = await watch(c, id).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      assert.equal(watched?.code, grpc.status.INVALID_ARGUMENT, `WatchJob(${id.slice(0, 10)})`);
    }
    const missing = await call<{ id: string }, unknown>(c.getJob.bind(c), { id: 'no-such-job' }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    assert.equal(missing?.code, grpc.status.NOT_FOUND);
  });

  it('hints past the end of the source fail the job with INVALID_ARGUMENT and create nothing', async () => {
    const c = client(running.port!);
    const job = await submit(
      c,
      backup(`file://${root}/vm1.img`, { name: 'vm2', hintsJson: JSON.stringify([{ offset: 0, length: 10 * BS, exists: 'true' }]) }),
    );
    const last = (await watch(c, job.id)).at(-1)!;
    assert.equal(last.errorCode, 'INVALID_ARGUMENT');
    assert.match(last.error, /past the end of the source/);
    const versions = await call<{ name: string; tag: string }, { versions: unknown[] }>(c.listVersions.bind(c), { name: 'vm2', tag: '' });
    assert.equal(versions.versions.length, 0);
  });
});
