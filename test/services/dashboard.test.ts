/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web dashboard in a real browser (Debian's chromium, headless, driven by puppeteer-core):
 * the scheduler serves it with the job API's tokens; after a backup through the job API the page
 * lists the version, a running backup's progress moves on the jobs page, an SLA breach shows, and
 * a page without a token is refused. The blob store is S3 behind Toxiproxy with 150 ms answers, so
 * that a backup runs long enough to be watched. Screenshots go to test/artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { buildDashboard } from '@blockvault/dashboard-web/build';
import { clientOptions } from '@blockvault/grpc-edge';
import { loadConfig, newToken } from '@blockvault/platform';
import { serve, type Running } from '@blockvault/platform/serve';
import { JobServiceClient, JobState, type Job } from '@blockvault/proto';
import {
  buildImage,
  cli,
  installChromium,
  startToxiproxy,
  tempDir,
  useS3,
  type S3Handle,
  type TempDir,
  type ToxiproxyServer,
} from '@blockvault/testing';
import { call, watch } from './harness.ts';

const BS = 64 * 1024;
const ARTIFACTS = resolve(import.meta.dirname, '../artifacts/dashboard');
let dir: TempDir;
let s3: S3Handle;
let toxiproxy: ToxiproxyServer;
let running: Running;
let browser: Browser;
let page: Page;
let api: JobServiceClient;
let base = '';
let env: Record<string, string> = {};
const viewer = newToken('viewer', ['read']);
const operator = newToken('operator', ['submit']);
let firstUid = '';

async function backup(name: string, blocks: number): Promise<Job> {
  await writeFile(
    dir.file(`${name}.img`),
    buildImage(
      Array.from({ length: blocks }, () => 'r' as const),
      BS,
    ),
  );
  return call(api.submitJob.bind(api), {
    requestId: `${name}-${Date.now()}`,
    backup: {
      source: dir.url(`${name}.img`),
      name,
      snapshotName: '',
      hintsJson: '',
      fromUid: '',
      tags: ['dash'],
      expire: '',
      continueUid: '',
    },
  });
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

before(async () => {
  const chromium = installChromium();
  await mkdir(ARTIFACTS, { recursive: true });
  await buildDashboard();
  dir = await tempDir();
  [s3, toxiproxy] = await Promise.all([useS3(), startToxiproxy()]);
  const proxy = await toxiproxy.proxy('s3-dashboard', `${s3.config.endPoint}:${s3.config.port}`);
  await proxy.addToxic({ name: 'slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 150, jitter: 0 } });
  await writeFile(dir.file('tokens'), `${viewer.line}\n${operator.line}\n`, { mode: 0o600 });
  env = {
    BLOCKVAULT_S3_ENDPOINT: '127.0.0.1',
    BLOCKVAULT_S3_PORT: proxy.listen.split(':')[1]!,
    BLOCKVAULT_S3_USE_SSL: 'false',
    BLOCKVAULT_S3_ACCESS_KEY: s3.config.accessKey,
    BLOCKVAULT_S3_SECRET_KEY: s3.config.secretKey,
    BLOCKVAULT_S3_BUCKET: `dash-${Date.now().toString(36)}`,
    BLOCKVAULT_COMPRESSION: 'none',
  };
  const config = loadConfig(
    { home: dir.file('home') },
    { ...env, BLOCKVAULT_GRPC_LISTEN: '127.0.0.1:0', BLOCKVAULT_HTTP_LISTEN: '127.0.0.1:0', BLOCKVAULT_TOKENS_FILE: dir.file('tokens') },
  );
  running = await serve({ target: 'all', config, blockSize: BS });
  base = `http://127.0.0.1:${running.httpPort}`;
  api = new JobServiceClient(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure(), clientOptions({ token: operator.token }));
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
});

after(async () => {
  await browser?.close();
  api?.close();
  await running?.stop();
  await toxiproxy?.stop();
  await s3?.stop();
  await dir?.remove();
});

describe('the web dashboard in a browser', () => {
  it('refuses a page without a token, and the API answers 401 naming what is missing', async () => {
    await page.goto(`${base}/#/versions`);
    const refused = await page.waitForSelector('#refused');
    assert.match((await refused!.evaluate((e) => e.textContent)) ?? '', /bearer token is required/);
    assert.equal(await page.$('#versions'), null, 'no versions without a token');
    assert.doesNotMatch((await page.$eval('body', (b) => b.textContent)) ?? '', /Loading the dashboard/, 'the no-JavaScript note is gone');
    await shot('refused');
    const res = await fetch(`${base}/api/v1/versions`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="blockvault"');
    const wrong = await fetch(`${base}/api/v1/versions`, { headers: { authorization: 'Bearer bvt_nope' } });
    assert.deepEqual([wrong.status, ((await wrong.json()) as { error: string }).error], [401, 'unknown token']);
  });

  it('after a backup through the job API, lists the version, and its page shows its blocks by state', async () => {
    const job = await backup('vm1', 8);
    const last = (await watch(api, job.id)).at(-1)!;
    assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, last.error);
    firstUid = last.versionUid;
    await page.type('input[name=token]', viewer.token);
    await page.click('form.token button');
    await page.waitForFunction((uid) => document.querySelector('#versions')?.textContent?.includes(uid), {}, firstUid.slice(0, 8));
    const row = await page.$eval('#versions tbody tr', (tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    assert.deepEqual([row[0], row[1], row[4], row[5]], [firstUid.slice(0, 8), 'vm1', '512 KiB', 'valid']);
    await shot('versions');
    await page.click(`a[href="#/versions/${firstUid}"]`);
    await page.waitForSelector('#version');
    const text = (await page.$eval('#version', (e) => e.textContent)) ?? '';
    assert.match(text, new RegExp(`Version ${firstUid}\\s*valid`));
    assert.match(text, /unique8512 KiB100%/);
    await shot('version');
  });

  it("moves a running backup's progress on the jobs page as it runs", async () => {
    await page.goto(`${base}/#/jobs`);
    await page.waitForSelector('#jobs');
    const job = await backup('vm2', 240);
    const partial = (previous: number) =>
      page.waitForFunction(
        (id, before) => {
          const [done, total] = (document.querySelector(`tr[data-job="${id}"] .blocks`)?.textContent ?? '').split('/').map(Number);
          return done !== undefined && total !== undefined && done > before && total > 0 && done <= total ? done : false;
        },
        { timeout: 120_000 },
        job.id,
        previous,
      );
    const first = (await (await partial(0)).jsonValue()) as number;
    assert.ok(first < 240, `seen while running: ${first}/240`);
    await shot('jobs-running');
    const later = (await (await partial(first)).jsonValue()) as number;
    assert.ok(later > first, `the progress moved: ${first} then ${later}`);
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-job="${id}"]`)?.classList.contains('succeeded'),
      { timeout: 120_000 },
      job.id,
    );
    assert.equal(await page.$eval(`tr[data-job="${job.id}"] .blocks`, (e) => e.textContent), '240/240');
  });

  it('highlights an SLA breach on the schedules page', async () => {
    const set = await cli(
      ['--home', dir.file('home'), 'schedule', 'set', 'vm9', 'daily', '--interval', '1d', '--keep', '7', '--sla', '2h'],
      undefined,
      env,
    );
    assert.equal(set.code, 0, set.stderr);
    await page.goto(`${base}/#/schedules`);
    const breach = await page.waitForSelector('#schedules tr.breach');
    const text = (await breach!.evaluate((e) => e.textContent)) ?? '';
    assert.match(text, /vm9daily/);
    assert.match(text, /breached: daily: too few backups: found 0, should be 7/);
    await shot('schedules');
  });

  it('lists recent events, newest first, linked to their versions', async () => {
    await page.goto(`${base}/#/events`);
    await page.waitForFunction((uid) => document.querySelector('#events')?.textContent?.includes(uid), {}, firstUid.slice(0, 8));
    const kinds = await page.$$eval('#events tbody tr', (rows) => rows.map((r) => r.querySelectorAll('td')[1]?.textContent));
    assert.ok(kinds.includes('backup.completed'), kinds.join(', '));
    await shot('events');
  });

  it('charts storage use and the dedup ratio over time', async () => {
    await page.goto(`${base}/#/storage`);
    await page.waitForSelector('#storage .chart canvas');
    assert.equal((await page.$$('#storage .chart')).length, 2);
    const usage = (await (await fetch(`${base}/api/v1/usage`, { headers: { authorization: `Bearer ${viewer.token}` } })).json()) as {
      total: { versions: number; dedupRatio: number };
    };
    assert.equal(usage.total.versions, 2);
    assert.equal(await page.$eval('#dedup-ratio', (e) => e.textContent), usage.total.dedupRatio.toFixed(2));
    await shot('storage');
  });
});
