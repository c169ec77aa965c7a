import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NotFoundError } from '@blockvault/core';
import { digestToken, type TokenGrant } from '@blockvault/grpc-edge';
import { DashboardServer } from './dashboard.ts';
import type { JobReads } from './job-service.ts';
import { MemoryJobQueue } from './memory-queue.ts';

const version = {
  uid: 'a1b2c3d4-0000',
  name: 'vm1',
  snapshotName: '',
  date: '2026-12-01T00:00:00.000Z',
  size: 2,
  sizeBytes: 8192,
  valid: true,
  protected: false,
  tags: ['daily'],
  expire: '',
};
const reads: JobReads = {
  listVersions: async (req) => ({
    versions: req.name && req.name !== 'vm1' ? [] : [version, { ...version, uid: 'ffff0000', valid: false }],
  }),
  getVersion: async (req) => {
    if (!req.uid.startsWith('a1b2')) throw new NotFoundError(`version ${req.uid} not found`);
    return { version, complete: true, unique: { blocks: 2, bytes: 8192 } };
  },
  getUsage: async () => ({
    versions: [],
    total: { versions: 1, sourceBytes: 8192, sparseBytes: 0, unrecordedBytes: 0, blobs: 2, blobBytes: 8192, dedupRatio: 1 },
  }),
  listSchedules: async () => ({ schedules: [] }),
};
const grant = (name: string, token: string, permissions: string[]): TokenGrant => ({
  name,
  sha256: digestToken(token),
  permissions: new Set(permissions) as TokenGrant['permissions'],
});

let assets: string;
let server: DashboardServer;
let base: string;
const queue = new MemoryJobQueue();

before(async () => {
  assets = await mkdtemp(join(tmpdir(), 'bv-dash-'));
  await writeFile(join(assets, 'index.html'), '<!doctype html><title>Blockvault</title>');
  const kept = [1, 2, 3].map((i) => ({ kind: 'backup.completed', versionUid: `v${i}`, id: `e${i}`, time: `2026-12-01T00:00:0${i}.000Z` }));
  const events = { publish: () => undefined, subscribe: () => () => undefined, recent: async (n: number) => kept.slice(-n) };
  server = new DashboardServer({
    reads,
    queue,
    assets,
    events,
    tokens: [grant('viewer', 'r-token', ['read']), grant('none', 'n-token', [])],
    pollMs: 20,
  });
  base = `http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
});
after(async () => {
  await server.close();
  await rm(assets, { recursive: true, force: true });
});

const get = (path: string, token?: string) => fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('the dashboard server', () => {
  it('serves the page to anyone and the API only with a read token', async () => {
    assert.equal(await (await get('/')).text(), '<!doctype html><title>Blockvault</title>');
    const refused = await get('/api/v1/versions');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="blockvault"');
    assert.equal((await get('/api/v1/versions', 'n-token')).status, 403);
    const ok = await get('/api/v1/versions?valid=false', 'r-token');
    assert.deepEqual(
      ((await ok.json()) as { versions: { uid: string }[] }).versions.map((v) => v.uid),
      ['ffff0000'],
    );
  });

  it('answers in the proto3 JSON mapping, with domain errors as HTTP statuses', async () => {
    const detail = (await (await get('/api/v1/versions/a1b2', 'r-token')).json()) as Record<string, unknown>;
    assert.deepEqual(detail['unique'], { blocks: 2, bytes: 8192 });
    assert.equal((detail['version'] as { sizeBytes: number }).sizeBytes, 8192);
    const missing = await get('/api/v1/versions/zzzz', 'r-token');
    assert.deepEqual([missing.status, await missing.json()], [404, { error: 'version zzzz not found', code: 'NOT_FOUND' }]);
    assert.equal((await get('/api/v1/versions?valid=maybe', 'r-token')).status, 400);
    assert.equal((await get('/api/v1/jobs?type=nap', 'r-token')).status, 400);
    assert.equal((await fetch(`${base}/api/v1/versions`, { method: 'DELETE' })).status, 405);
  });

  it('lists recent events newest first, within a bounded limit', async () => {
    const res = (await (await get('/api/v1/events?limit=2', 'r-token')).json()) as { events: { id: string; versionUid: string }[] };
    assert.deepEqual(
      res.events.map((e) => [e.id, e.versionUid]),
      [
        ['e3', 'v3'],
        ['e2', 'v2'],
      ],
    );
    assert.equal((await get('/api/v1/events?limit=501', 'r-token')).status, 400);
    assert.equal((await get('/api/v1/events')).status, 401);
  });

  it('never serves a file outside its directory', async () => {
    for (const path of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc/passwd'])
      assert.equal((await get(path)).status, 404, path);
  });

  it('streams the jobs as server-sent events whenever they change', async () => {
    const res = await get('/api/v1/jobs/stream', 'r-token');
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const next = async (): Promise<{ jobs?: { id: string; state: string }[] }> => {
      let text = '';
      while (!text.includes('\n\n')) text += (await reader.read()).value ?? '';
      return JSON.parse(/^data: (.*)$/m.exec(text)![1]!) as { jobs?: { id: string; state: string }[] };
    };
    assert.deepEqual(await next(), { jobs: [] });
    const job = await queue.submit({ requestId: 'r1', scrub: { uid: 'a1b2', percent: 0, source: '', deep: false } } as never, new Date());
    const seen = await next();
    assert.deepEqual(
      seen.jobs?.map((j) => [j.id, j.state]),
      [[job.id, 'JOB_STATE_QUEUED']],
    );
    await reader.cancel();
  });
});
