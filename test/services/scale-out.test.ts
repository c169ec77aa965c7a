/**
 * Scale-out: two readers with disjoint roots announce themselves in NATS, and two workers with
 * BLOCKVAULT_READER_URL=discover route each URL to the reader that reaches it. Two backups of two
 * volumes run on the two workers at once, each read (and restored) by its own reader; a URL no
 * live reader serves is refused by the job API before anything is queued.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { JobState, type Job } from '@blockvault/proto';
import { BLOCKVAULT_BIN, buildImage, startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';
import { client, submit, watch } from './harness.ts';

const BS = 64 * 1024;
let nats: NatsServer;
let dir: TempDir;
const children: ChildProcess[] = [];
const urls: Record<string, string> = {};
const metrics = new Map<string, number>();
let api = 0;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  return { ...clean, BLOCKVAULT_NATS_URL: nats.url, BLOCKVAULT_JOB_ACK_WAIT_MS: '5000', ...urls, ...extra };
}

/** Starts `blockvault serve --target`; resolves with its announcement once it serves. */
function start(
  name: string,
  target: string,
  extra: Record<string, string> = {},
): Promise<{ port: number | null; metricsPort: number | null }> {
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', dir.file(`${name}-home`), 'serve', '--target', target, '--listen', '127.0.0.1:0'],
    { env: env({ BLOCKVAULT_METRICS_LISTEN: '127.0.0.1:0', ...extra }), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.trimEnd().endsWith('}')) return;
      const info = JSON.parse(out) as { port: number | null; metricsPort: number | null };
      if (info.metricsPort) metrics.set(name, info.metricsPort);
      done(info);
    });
    child.once('exit', (code) => fail(new Error(`${name} exited with ${code}`)));
  });
}

/** Completed calls of a reader's gRPC method, from its /metrics. */
async function readerCalls(name: string, method: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metrics.get(name)}/metrics`)).text();
  const line = new RegExp(
    `^blockvault_rpc_server_duration_seconds_count\\{service="blockvault.v1.ReaderService",method="${method}",code="OK"\\} (\\d+)`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? 0);
}

before(async () => {
  nats = await startNats();
  dir = await tempDir();
  for (const d of ['a', 'b', 'c']) await mkdir(dir.file(d));
  // Different sizes and contents; each image is many blocks so that both backups overlap.
  await writeFile(dir.file('a/vm-a.img'), buildImage(Array<'r'>(96).fill('r'), BS));
  await writeFile(dir.file('b/vm-b.img'), buildImage(Array<'r'>(80).fill('r'), BS, 100));
  await writeFile(dir.file('c/vm-c.img'), buildImage(['r'], BS));
  const init = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', dir.file('metadata-home'), 'init', '--block-size', String(BS)], {
    env: env(),
  });
  assert.equal(await new Promise((r) => init.once('exit', r)), 0);
  urls['BLOCKVAULT_METADATA_URL'] = `127.0.0.1:${(await start('metadata', 'metadata')).port}`;
  urls['BLOCKVAULT_BLOBSTORE_URL'] = `127.0.0.1:${(await start('blob-store', 'blob-store')).port}`;
  await start('reader-a', 'reader', { BLOCKVAULT_IO_ROOTS: dir.file('a') });
  await start('reader-b', 'reader', { BLOCKVAULT_IO_ROOTS: dir.file('b') });
  urls['BLOCKVAULT_READER_URL'] = 'discover';
  api = (await start('scheduler', 'scheduler')).port!;
  await start('worker-1', 'worker');
  await start('worker-2', 'worker');
});

after(async () => {
  for (const c of children.reverse()) {
    if (c.exitCode === null) await new Promise((done) => (c.once('exit', done), c.kill('SIGTERM')));
  }
  await nats?.stop();
  await dir?.remove();
});

const backupOf = (name: string, path: string) => ({
  requestId: '',
  backup: { source: `file://${dir.file(path)}`, name, snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
});

describe('readers routed by the roots they announce', () => {
  it('two backups run at once on two workers, each read by the reader that reaches its volume, and restore there', async () => {
    const c = client(api);
    try {
      const [ja, jb] = await Promise.all([submit(c, backupOf('vm-a', 'a/vm-a.img')), submit(c, backupOf('vm-b', 'b/vm-b.img'))]);
      const [a, b] = (await Promise.all([watch(c, ja.id), watch(c, jb.id)])).map((seen) => seen.at(-1)!) as [Job, Job];
      assert.equal(a.state, JobState.JOB_STATE_SUCCEEDED, a.error);
      assert.equal(b.state, JobState.JOB_STATE_SUCCEEDED, b.error);
      assert.notEqual(a.worker, b.worker, 'each worker took one');
      assert.equal(await readerCalls('reader-a', 'Scan'), 1, 'reader a scanned vm-a, in its root');
      assert.equal(await readerCalls('reader-b', 'Scan'), 1, 'reader b scanned vm-b, in its root');
      for (const [job, d, img] of [
        [a, 'a', 'vm-a'],
        [b, 'b', 'vm-b'],
      ] as const) {
        const uid = (JSON.parse(job.resultJson) as { version: { uid: string } }).version.uid;
        const r = await submit(c, {
          requestId: '',
          restore: { uid, target: `file://${dir.file(`${d}/${img}.out`)}`, sparse: false, force: false, continueFrom: 0 },
        });
        const done = (await watch(c, r.id)).at(-1)!;
        assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error);
        assert.deepEqual(await dir.read(`${d}/${img}.out`), await dir.read(`${d}/${img}.img`));
      }
      assert.equal(await readerCalls('reader-a', 'Write'), 1, 'vm-a was restored by reader a');
      assert.equal(await readerCalls('reader-b', 'Write'), 1, 'vm-b was restored by reader b');
    } finally {
      c.close();
    }
  });

  it('refuses a URL no live reader serves, before queueing, naming the readers there are', async () => {
    const c = client(api);
    try {
      await assert.rejects(submit(c, backupOf('vm-c', 'c/vm-c.img')), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.message);
        assert.match(err.details, /no live reader serves file:\/\/.*\/c\/vm-c\.img/);
        assert.match(err.details, new RegExp(`${dir.file('a')}.*${dir.file('b')}|${dir.file('b')}.*${dir.file('a')}`));
        return true;
      });
    } finally {
      c.close();
    }
  });
});
