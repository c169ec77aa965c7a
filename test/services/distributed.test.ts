/**
 * The services as separate processes with a real nats-server: the metadata, blob-store and reader
 * services hold the database, the blobs and the files, and the scheduler and workers reach them
 * only over gRPC (`blockvault serve --target metadata|blob-store|reader|scheduler|worker`): the CLI's --server mode gives the embedded mode's JSON, and a worker killed with
 * SIGKILL mid-backup leaves its job to another worker, which continues the same version.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { JobState, type GetJobRequest, type Job } from '@blockvault/proto';
import { cli as runCli, BLOCKVAULT_BIN } from '@blockvault/testing';
import { differingBlocks, installQemu, startNats, tempDir, waitFor, type NatsServer, type TempDir } from '@blockvault/testing';
import { call, client, submit, watch } from './harness.ts';
import { servicesSuite } from './suite.ts';

const BIN = BLOCKVAULT_BIN;
const execFileAsync = promisify(execFile);
let nats: NatsServer;
let dir: TempDir;
const children: ChildProcess[] = [];
let port = 0;
let suiteWorker: ChildProcess | undefined;
/** Where the scheduler and workers find the metadata, blob-store and reader services. */
const serviceUrls: Record<string, string> = {};

function env(): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  return {
    ...clean,
    ...serviceUrls,
    BLOCKVAULT_JOB_ACK_WAIT_MS: '3000',
    BLOCKVAULT_LOCK_TTL_MS: '3000',
    BLOCKVAULT_SCHEDULER_TICK_MS: '200',
  };
}

/** Starts `blockvault serve`; resolves with its JSON announcement once it serves. */
function startService(target: string): Promise<{ child: ChildProcess; info: { port: number | null; pid: number } }> {
  const child = spawn(
    process.execPath,
    [BIN, '--json', '--home', dir.file('home'), 'serve', '--target', target, '--listen', '127.0.0.1:0', '--nats', nats.url],
    { env: env(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        done({ child, info: JSON.parse(out) as { port: number | null; pid: number } });
      } catch {
        // not complete yet
      }
    });
    child.once('exit', (code) => fail(new Error(`serve --target ${target} exited with ${code}`)));
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill(signal);
  });
}

before(async () => {
  nats = await startNats(); // its own: job streams and the leader lease must not be shared with other test files
  dir = await tempDir();
  // 1 MiB blocks in segments of 8: an interrupted backup resumes from the last 8 MiB committed.
  const init = await runCli(['--home', dir.file('home'), 'init', '--block-size', String(1024 * 1024), '--blocks-per-segment', '8']);
  assert.equal(init.code, 0, init.stderr);
  serviceUrls['BLOCKVAULT_METADATA_URL'] = `127.0.0.1:${(await startService('metadata')).info.port}`;
  serviceUrls['BLOCKVAULT_BLOBSTORE_URL'] = `127.0.0.1:${(await startService('blob-store')).info.port}`;
  serviceUrls['BLOCKVAULT_READER_URL'] = `127.0.0.1:${(await startService('reader')).info.port}`;
  port = (await startService('scheduler')).info.port as number;
  suiteWorker = (await startService('worker')).child;
});
after(async () => {
  for (const c of [...children].reverse()) await stop(c);
  await nats?.stop();
  await dir?.remove();
});

servicesSuite('separate processes', () => ({ port, natsUrl: nats.url, dir, blockSize: 1024 * 1024 }));

describe('services in separate processes', () => {
  before(async () => {
    // The tests below start their own workers; the kill test needs its job on the one it kills.
    if (suiteWorker) await stop(suiteWorker);
  });

  it('the CLI with --server prints what the embedded mode prints', async () => {
    const worker = await startService('worker');
    const img = Buffer.concat([randomBytes(5 * 1024 * 1024), Buffer.alloc(4 * 1024 * 1024)]);
    const fh = await open(dir.file('small.img'), 'w');
    await fh.write(img);
    await fh.close();
    const server = ['--server', `127.0.0.1:${port}`, '--json'];
    const backup = await runCli([...server, 'backup', dir.url('small.img'), 'small']);
    assert.equal(backup.code, 0, backup.stderr);
    const out = JSON.parse(backup.stdout) as { version: Record<string, unknown>; stats: Record<string, number> };
    assert.deepEqual(Object.keys(out.version).sort(), [
      'date',
      'expire',
      'name',
      'protected',
      'size',
      'sizeBytes',
      'snapshotName',
      'tags',
      'uid',
      'valid',
    ]);
    assert.deepEqual({ w: out.stats['blocksWritten'], s: out.stats['blocksSparse'] }, { w: 5, s: 4 });
    const listed = JSON.parse((await runCli([...server, 'ls', 'small'])).stdout) as { uid: string }[];
    assert.deepEqual(
      listed.map((v) => v.uid),
      [out.version['uid']],
    );
    const restore = await runCli([...server, 'restore', String(out.version['uid']), dir.url('small-out.img')]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await readFile(dir.file('small-out.img')), img);
    const missing = await runCli([...server, 'restore', 'no-such-version', dir.url('x.img')]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /not found/);
    await stop(worker.child);
  });

  it('the CLI beside the services (their URLs and NATS, no --server) runs the commands the job API lacks', async () => {
    const beside = { ...serviceUrls, BLOCKVAULT_NATS_URL: nats.url, BLOCKVAULT_LOCK_TTL_MS: '3000' };
    const run = (args: string[]) => runCli(['--json', '--home', dir.file('cli-home-unused'), ...args], undefined, beside);
    const listed = JSON.parse((await run(['ls', 'small'])).stdout) as { uid: string }[];
    assert.equal(listed.length, 1);
    const uid = listed[0]!.uid;
    const shown = await run(['show', uid, '--blocks']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { blocks: unknown[] }).blocks.length, 9);
    assert.equal((await run(['protect', uid])).code, 0);
    const refused = await run(['rm', uid]);
    assert.equal(refused.code, 4, 'a protected version is not removed');
    assert.match(refused.stderr, /protected/);
    assert.equal((JSON.parse((await run(['ls', 'small'])).stdout) as { protected: boolean }[])[0]!.protected, true);
    const noNats = await runCli(['--home', dir.file('cli-home-unused'), 'ls'], undefined, serviceUrls);
    assert.equal(noNats.code, 2, 'the metadata service without NATS for locks is a usage error');
    assert.match(noNats.stderr, /BLOCKVAULT_NATS_URL/);
  });

  it("blockvault nbd beside the services, and serve --target access, export the deployment's versions, reading blobs through the blob-store service", async () => {
    installQemu();
    const beside = { ...env(), BLOCKVAULT_NATS_URL: nats.url };
    const listed = JSON.parse(
      (await runCli(['--json', '--home', dir.file('cli-home-unused'), 'ls', 'small'], undefined, beside)).stdout,
    ) as {
      uid: string;
    }[];
    const child = spawn(process.execPath, [BIN, '--json', '--home', dir.file('nbd-home-unused'), 'nbd', '--listen', '127.0.0.1:0'], {
      env: beside,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const served = await new Promise<{ nbd: string }>((done, fail) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) done(JSON.parse(out) as { nbd: string });
      });
      child.once('exit', (code) => fail(new Error(`blockvault nbd exited with ${code}`)));
    });
    const compared = await execFileAsync('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      'raw',
      `nbd://${served.nbd}/${listed[0]!.uid}`,
      dir.file('small.img'),
    ]);
    assert.match(compared.stdout, /Images are identical/);
    await stop(child);
    // The same export as a service: serve --target access, configured like the other services.
    const access = await startService('access');
    const nbdPort = (access.info as { nbdPort?: number }).nbdPort;
    assert.ok(nbdPort, 'serve --target access says where NBD is');
    const again = await execFileAsync('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      'raw',
      `nbd://127.0.0.1:${nbdPort}/${listed[0]!.uid}`,
      dir.file('small.img'),
    ]);
    assert.match(again.stdout, /Images are identical/);
    await stop(access.child);
  });

  it('a worker killed mid-backup leaves the job to another, which continues the same version', async () => {
    const blocks = 640;
    const size = blocks * 1024 * 1024;
    const fh = await open(dir.file('big.img'), 'w');
    for (let i = 0; i < blocks / 4; i++) await fh.write(randomBytes(4 * 1024 * 1024));
    await fh.close();
    const first = await startService('worker');
    const c = client(port);
    const job = await submit(c, {
      requestId: `kill-${Date.now()}`,
      backup: { source: dir.url('big.img'), name: 'big', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
    });
    // Kill the worker once it has committed a few segments (read from its metadata database).
    const committed = (uid: string): number => {
      const db = new DatabaseSync(dir.file('home/metadata.sqlite'), { readOnly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM version_segments WHERE version_uid = ?').get(uid) as { n: number }).n;
      } finally {
        db.close();
      }
    };
    let seen: Job | undefined;
    await waitFor(
      'the first worker to commit segments',
      async () => {
        seen = await call<GetJobRequest, Job>(c.getJob.bind(c), { id: job.id });
        return seen.versionUid !== '' && committed(seen.versionUid) >= 2;
      },
      60_000,
    );
    await stop(first.child, 'SIGKILL');
    const versionUid = seen!.versionUid;
    const segmentsAtKill = committed(versionUid);
    assert.ok(segmentsAtKill < blocks / 8, 'killed before it finished');
    await startService('worker');
    const done = (await watch(c, job.id)).at(-1)!;
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, `${done.errorCode}: ${done.error}`);
    assert.ok(done.attempts >= 2, `attempts ${done.attempts}`);
    assert.equal(done.versionUid, versionUid, 'the same version, continued');
    const result = JSON.parse(done.resultJson) as { version: { uid: string; sizeBytes: number }; stats: { blocksRead: number } };
    assert.equal(result.version.uid, versionUid);
    assert.ok(
      result.stats.blocksRead <= blocks - segmentsAtKill * 8,
      `the second worker read ${result.stats.blocksRead} of ${blocks} blocks; ${segmentsAtKill * 8} were committed before the kill`,
    );
    const restore = await submit(c, {
      requestId: `kill-r-${Date.now()}`,
      restore: { uid: versionUid, target: dir.url('big-out.img'), sparse: false, force: false, continueFrom: 0 },
    });
    const restored = (await watch(c, restore.id)).at(-1)!;
    assert.equal(restored.state, JobState.JOB_STATE_SUCCEEDED, `${restored.errorCode}: ${restored.error}`);
    const restoredResult = JSON.parse(restored.resultJson) as { damagedBlocks: number[]; blocksRestored: number };
    assert.deepEqual(restoredResult.damagedBlocks, [], 'no block was found damaged');
    assert.equal(restoredResult.blocksRestored, blocks);
    const [a, b] = [await readFile(dir.file('big.img')), await readFile(dir.file('big-out.img'))];
    assert.equal(b.length, size);
    const differing = differingBlocks(a, b, 1024 * 1024);
    assert.deepEqual(differing, [], `restored byte for byte (${segmentsAtKill} segments were committed at the kill)`);
  });
});
