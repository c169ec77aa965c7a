/**
 * The services' end-to-end suite, run in both modes: every module in one process, and the
 * scheduler and worker as separate processes (all-in-one.test.ts, distributed.test.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import {
  JobState,
  type CancelJobRequest,
  type GetUsageRequest,
  type GetVersionRequest,
  type ListSchedulesRequest,
  type ListSchedulesResponse,
  type Usage,
  type VersionDetail,
  type Job,
  type ListJobsRequest,
  type ListJobsResponse,
  type ListVersionsRequest,
  type ListVersionsResponse,
} from '@blockvault/proto';
import { buildImage, cli as runCli, waitFor, type TempDir } from '@blockvault/testing';
import type { ReceivedEvent } from '@blockvault/adapter-nats';
import { call, client, EventRecorder, submit, watch } from './harness.ts';

export interface SuiteEnv {
  /** The job API's port. */
  readonly port: number;
  readonly natsUrl: string;
  /** Holds the repository (`home`) and the test images. */
  readonly dir: TempDir;
  readonly blockSize: number;
}

export function servicesSuite(mode: string, env: () => SuiteEnv): void {
  describe(`services (${mode})`, () => {
    // Every event of the whole suite, checked against proto/asyncapi.yaml by its last test.
    let everything: EventRecorder;
    let nc: NatsConnection;
    before(async () => {
      nc = await connect({ servers: env().natsUrl });
      everything = new EventRecorder(nc);
      await everything.ready();
    });
    after(async () => {
      await nc?.close();
    });

    describe(`services (${mode}): jobs`, () => {
      it('backs up and restores through the job API, and a subscriber gets the events in order', async () => {
        const c = client(env().port);
        const recorder = new EventRecorder(nc);
        await recorder.ready();
        const img = buildImage(['r', 'z', 0, 'r', 'r'], env().blockSize, 33);
        await writeFile(env().dir.file('a.img'), img);
        const job = await submit(c, {
          requestId: `b-${Date.now()}`,
          backup: { source: env().dir.url('a.img'), name: 'vm1', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
        });
        const states = await watch(c, job.id);
        const done = states.at(-1)!;
        assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, `${done.errorCode}: ${done.error}`);
        states.slice(1).forEach((s, i) => assert.notDeepEqual(s, states[i], `WatchJob sent message ${i + 1} twice`));
        // The result is a typed message; result_json keeps the CLI's --json for clients that read it.
        const result = done.backupResult!;
        assert.equal(result.stats?.blocksWritten, 4, 'three distinct blocks and the short tail');
        assert.equal(result.version?.uid, done.versionUid);
        assert.equal(result.version?.valid, true);
        assert.equal((JSON.parse(done.resultJson) as { version: { uid: string } }).version.uid, done.versionUid);
        const uid = done.versionUid;
        const restore = await submit(c, {
          requestId: `r-${Date.now()}`,
          restore: { uid, target: env().dir.url('out.img'), sparse: false, force: false, continueFrom: 0 },
        });
        const restored = (await watch(c, restore.id)).at(-1)!;
        assert.equal(restored.state, JobState.JOB_STATE_SUCCEEDED);
        assert.equal(restored.restoreResult?.bytesRestored, img.length);
        const { readFile } = await import('node:fs/promises');
        assert.deepEqual(await readFile(env().dir.file('out.img')), img);
        const listed = await call<ListJobsRequest, ListJobsResponse>(c.listJobs.bind(c), {
          limit: 100,
          state: JobState.JOB_STATE_SUCCEEDED,
          type: 'restore',
        });
        assert.ok(listed.jobs.some((j) => j.id === restore.id));
        assert.ok(
          listed.jobs.every((j) => j.type === 'restore' && j.state === JobState.JOB_STATE_SUCCEEDED),
          'ListJobs filters',
        );
        for (const id of [job.id, restore.id]) await recorder.until((e) => e.kind === 'job.completed' && e.jobId === id);
        await recorder.stop();
        const events = recorder.events;
        // Each job's events in order (two jobs' events may interleave): each names its job and version.
        const of = (jobId: string): string[] =>
          events.filter((e) => e.jobId === jobId && e.versionUid === uid && !e.kind.endsWith('.progress')).map((e) => e.kind);
        assert.deepEqual(of(job.id), ['version.created', 'backup.completed', 'job.completed']);
        assert.deepEqual(of(restore.id), ['restore.completed', 'job.completed']);
        // CloudEvents: each its own id, from the service that did the work.
        assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'unique ids');
        assert.ok(
          events.every((e) => /^urn:blockvault:default:(all|worker|scheduler)$/.test(e.source)),
          [...new Set(events.map((e) => e.source))].join(),
        );
      });

      it('a client reads a version by uid prefix with its blocks by state, the repository usage, and where schedules stand', async () => {
        const c = client(env().port);
        const bs = env().blockSize;
        // Two distinct blocks, a zero block, a repeat of block 0; then the same image again as a second version.
        await writeFile(env().dir.file('read.img'), buildImage(['r', 'r', 'z', 0], bs));
        const backupOf = async (requestId: string): Promise<string> => {
          const job = await submit(c, {
            requestId,
            backup: {
              source: env().dir.url('read.img'),
              name: 'readapi',
              snapshotName: '',
              hintsJson: '',
              fromUid: '',
              tags: [],
              expire: '',
            },
          });
          const done = (await watch(c, job.id)).at(-1)!;
          assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error);
          return done.versionUid;
        };
        const uid = await backupOf(`read-1-${Date.now()}`);
        const detail = await call<GetVersionRequest, VersionDetail>(c.getVersion.bind(c), { uid: uid.slice(0, 8) });
        assert.equal(detail.version?.uid, uid);
        assert.equal(detail.complete, true);
        assert.equal(detail.version?.stats?.blocksRead, 4, 'the backup stats come with the version');
        assert.deepEqual(
          [detail.unique, detail.deduplicated, detail.sparse, detail.invalid, detail.unrecorded].map((b) => [b?.blocks, b?.bytes]),
          [
            [2, 2 * bs],
            [1, bs],
            [1, bs],
            [0, 0],
            [0, 0],
          ],
        );
        const before = await call<GetUsageRequest, Usage>(c.getUsage.bind(c), {});
        const second = await backupOf(`read-2-${Date.now()}`);
        const after = await call<GetUsageRequest, Usage>(c.getUsage.bind(c), {});
        assert.equal(after.total?.versions, before.total!.versions + 1);
        assert.equal(after.total?.sourceBytes, before.total!.sourceBytes + 4 * bs);
        assert.equal(after.total?.blobBytes, before.total!.blobBytes, 'the second backup stored nothing new');
        assert.ok(
          after.total!.dedupRatio > before.total!.dedupRatio,
          `dedup ratio ${before.total!.dedupRatio} -> ${after.total!.dedupRatio}`,
        );
        const mine = after.versions.find((u) => u.uid === second)!;
        assert.deepEqual(
          [mine.complete, mine.realBytes, mine.sparseBytes, mine.uniqueBytes, mine.sharedBytes, mine.exclusiveBytes],
          [true, 3 * bs, bs, 2 * bs, 2 * bs, 0],
        );
        const code = (p: Promise<unknown>) =>
          p.then(
            () => grpc.status.OK,
            (e: grpc.ServiceError) => e.code,
          );
        assert.equal(await code(call(c.getVersion.bind(c), { uid: 'ffffffff' })), grpc.status.NOT_FOUND);
        assert.equal(
          await code(call(c.getVersion.bind(c), { uid: uid.slice(0, 2) })),
          grpc.status.INVALID_ARGUMENT,
          'a prefix under 4 characters',
        );
        const set = await runCli([
          '--home',
          env().dir.file('home'),
          'schedule',
          'set',
          'readapi',
          'weekly',
          '--interval',
          '7d',
          '--keep',
          '2',
        ]);
        assert.equal(set.code, 0, set.stderr);
        const schedules = await call<ListSchedulesRequest, ListSchedulesResponse>(c.listSchedules.bind(c), { name: 'readapi' });
        assert.deepEqual(
          schedules.schedules.map((s) => [s.name, s.scheduler, s.intervalSeconds, s.keep, s.latestUid, s.due, s.breaches]),
          [['readapi', 'weekly', 7 * 86_400, 2, '', true, ['weekly: too few backups: found 0, should be 2']]],
          'no version carries the weekly tag yet: due, and short of its keep',
        );
      });

      it('a duplicate submission returns the first job and runs once; bad requests get status codes', async () => {
        const c = client(env().port);
        await writeFile(env().dir.file('b.img'), buildImage(['r'], env().blockSize));
        const req = {
          requestId: `dup-${Date.now()}`,
          backup: { source: env().dir.url('b.img'), name: 'dup', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
        };
        const [first, second] = [await submit(c, req), await submit(c, req)];
        assert.equal(second.id, first.id);
        await watch(c, first.id);
        const versions = await call<ListVersionsRequest, ListVersionsResponse>(c.listVersions.bind(c), { name: 'dup', tag: '' });
        assert.equal(versions.versions.length, 1, 'run once');
        const code = (p: Promise<unknown>) =>
          p.then(
            () => -1,
            (e: grpc.ServiceError) => e.code,
          );
        assert.equal(
          await code(
            submit(c, {
              requestId: '',
              restore: { uid: 'no-such-version', target: env().dir.url('x.img'), sparse: false, force: false, continueFrom: 0 },
            }),
          ),
          grpc.status.NOT_FOUND,
        );
        assert.equal(
          await code(
            submit(c, {
              requestId: '',
              backup: { source: 'not a url', name: 'x', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
            }),
          ),
          grpc.status.INVALID_ARGUMENT,
        );
        assert.equal(await code(submit(c, { requestId: '' })), grpc.status.INVALID_ARGUMENT);
        assert.equal(
          await code(
            submit(c, {
              requestId: '',
              backup: { source: env().dir.url('b.img'), name: '', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
            }),
          ),
          grpc.status.INVALID_ARGUMENT,
        );
        assert.equal(await code(call(c.getJob.bind(c), { id: 'nope' })), grpc.status.NOT_FOUND);
      });
    });

    describe(`services (${mode}): cancelling`, () => {
      it('CancelJob stops a running backup between blocks: the job ends CANCELLED, the version stays invalid, the volume is free', async () => {
        const c = client(env().port);
        const recorder = new EventRecorder(nc);
        await recorder.ready();
        // Big enough that the backup is still running when the cancel arrives (it is sent as soon
        // as the job reports its version); 256 MiB of distinct blocks.
        const fh = await open(env().dir.file('long.img'), 'w');
        for (let i = 0; i < 64; i++) await fh.write(randomBytes(4 * 1024 * 1024));
        await fh.close();
        const job = await submit(c, {
          requestId: `cancel-${Date.now()}`,
          backup: { source: env().dir.url('long.img'), name: 'long', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
        });
        const states: Job[] = await new Promise((done, fail) => {
          const seen: Job[] = [];
          let asked = false;
          const stream = c.watchJob({ id: job.id });
          stream.on('data', (j: Job) => {
            seen.push(j);
            if (!asked && j.state === JobState.JOB_STATE_RUNNING && j.versionUid) {
              asked = true;
              call<CancelJobRequest, Job>(c.cancelJob.bind(c), { id: job.id }).then((r) => assert.equal(r.cancelRequested, true), fail);
            }
          });
          stream.on('end', () => done(seen));
          stream.on('error', fail);
        });
        const last = states.at(-1)!;
        assert.equal(last.state, JobState.JOB_STATE_CANCELLED, `${last.errorCode}: ${last.error}`);
        assert.equal(last.errorCode, 'CANCELLED');
        await recorder.until((e) => e.kind === 'job.cancelled' && e.jobId === job.id);
        await recorder.stop();
        assert.deepEqual(
          recorder.events
            .filter((e) => e.jobId === job.id && !e.kind.endsWith('.progress') && e.kind !== 'version.created')
            .map((e) => [e.kind, e.versionUid, e.code]),
          [
            ['backup.cancelled', last.versionUid, 'CANCELLED'],
            ['job.cancelled', last.versionUid, 'CANCELLED'],
          ],
          'one cancellation of the backup and one of the job, no failure',
        );
        const versions = await call<ListVersionsRequest, ListVersionsResponse>(c.listVersions.bind(c), { name: 'long', tag: '' });
        assert.deepEqual(
          versions.versions.map((v) => [v.uid, v.valid]),
          [[last.versionUid, false]],
          'the cancelled version is kept, incomplete and invalid',
        );
        const code = await call(c.cancelJob.bind(c), { id: job.id }).then(
          () => -1,
          (e: grpc.ServiceError) => e.code,
        );
        assert.equal(code, grpc.status.FAILED_PRECONDITION, 'an ended job cannot be cancelled again');
        // The volume's lock and session were released: a new backup of it runs at once.
        await writeFile(env().dir.file('long-small.img'), buildImage(['r'], env().blockSize));
        const next = await submit(c, {
          requestId: `after-cancel-${Date.now()}`,
          backup: {
            source: env().dir.url('long-small.img'),
            name: 'long',
            snapshotName: '',
            hintsJson: '',
            fromUid: '',
            tags: [],
            expire: '',
          },
        });
        assert.equal((await watch(c, next.id)).at(-1)!.state, JobState.JOB_STATE_SUCCEEDED);
      });
    });

    describe(`services (${mode}): oversized and malformed messages`, () => {
      it('refuses a request larger than the message limit with RESOURCE_EXHAUSTED, and keeps serving', async () => {
        const c = client(env().port);
        const huge = 'x'.repeat(9 * 1024 * 1024);
        const err = await submit(c, {
          requestId: '',
          backup: { source: env().dir.url('a.img'), name: 'big', snapshotName: '', hintsJson: huge, fromUid: '', tags: [], expire: '' },
        }).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
        const malformed = await submit(c, {
          requestId: 'bad id with spaces',
          cleanup: { graceSeconds: 0, full: false, prefix: '', dryRun: true },
        }).then(
          () => undefined,
          (e: grpc.ServiceError) => e,
        );
        assert.equal(malformed?.code, grpc.status.INVALID_ARGUMENT);
        assert.ok(
          (await call(c.listJobs.bind(c), { limit: 5, state: JobState.JOB_STATE_UNSPECIFIED, type: '' })) !== undefined,
          'still serving',
        );
      });
    });

    describe(`services (${mode}): the scheduler`, () => {
      it('backs up a due schedule by itself, and publishes SLA breaches', async () => {
        const c = client(env().port);
        const recorder = new EventRecorder(nc, 'blockvault.events.sla.breach');
        await recorder.ready();
        const breaches = (): ReceivedEvent[] => recorder.events;
        await writeFile(env().dir.file('auto.img'), buildImage(['r', 'r'], env().blockSize));
        const set = await runCli([
          '--home',
          env().dir.file('home'),
          'schedule',
          'set',
          'auto',
          'hourly',
          '--interval',
          '1h',
          '--keep',
          '3',
          '--source',
          env().dir.url('auto.img'),
        ]);
        assert.equal(set.code, 0, set.stderr);
        await waitFor(
          'the scheduled backup',
          async () =>
            (await call<ListVersionsRequest, ListVersionsResponse>(c.listVersions.bind(c), { name: 'auto', tag: 'hourly' })).versions.some(
              (v) => v.valid,
            ),
          30_000,
        );
        await waitFor(
          'an SLA breach event',
          async () =>
            breaches().some(
              (b) => b['name'] === 'auto' && Array.isArray(b['breaches']) && b['breaches'].some((x) => /too few backups/.test(String(x))),
            ),
          10_000,
        );
        await recorder.stop();
        const versions = await call<ListVersionsRequest, ListVersionsResponse>(c.listVersions.bind(c), { name: 'auto', tag: '' });
        assert.equal(versions.versions.length, 1, 'one backup per period, however many ticks');
      });
    });
    describe(`services (${mode}): the event contract`, () => {
      it('every event the services published during this suite is a CloudEvent that proto/asyncapi.yaml describes', async () => {
        await everything.stop();
        assert.deepEqual(everything.problems(), []);
        const kinds = new Set(everything.events.map((e) => e.kind));
        for (const kind of [
          'version.created',
          'backup.progress',
          'backup.completed',
          'backup.cancelled',
          'restore.completed',
          'job.completed',
          'job.cancelled',
          'sla.breach',
        ])
          assert.ok(kinds.has(kind), `a ${kind} event was checked (got ${[...kinds].join(', ')})`);
      });
    });
  });
}
