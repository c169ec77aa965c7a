/**
 * The fault suite, first part: the five services apart (metadata, blob-store and reader services,
 * scheduler, worker) on a real nats-server, each killed with SIGKILL while a `--server` backup
 * reads (and the reader and blob-store while a restore writes), then started again with its own
 * command line a few seconds later, as a rolling update or a crashed pod would. For every case:
 * the CLI's job ends SUCCEEDED with exit 0, the restored image equals the source byte for byte,
 * deep-scrub is clean, and the attempts spent are reported. A table of the cases is printed at
 * the end (copied into the README's Guarantees section).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { JobServiceClient, JobState, type Job } from '@blockvault/proto';
import { BLOCKVAULT_BIN, buildImage, freePort, startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';

const TARGETS = ['metadata', 'blob-store', 'reader', 'scheduler', 'worker'] as const;
type Target = (typeof TARGETS)[number];
const BLOCK = 4 * 1024 * 1024;
/** 96 blocks of 4 MiB: a backup through the five services takes a few seconds here. */
const IMAGE_BLOCKS = 96;
const RESTART_AFTER_MS = 2000;

let nats: NatsServer;
let dir: TempDir;
let image: Buffer;
const listen = new Map<Target, string>();
const running = new Map<Target, ChildProcess>();
const rows: { case: string; outcome: string; recoverySeconds: string; attempts: number }[] = [];

function environment(): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  return {
    ...clean,
    BLOCKVAULT_METADATA_URL: listen.get('metadata'),
    BLOCKVAULT_BLOBSTORE_URL: listen.get('blob-store'),
    BLOCKVAULT_READER_URL: listen.get('reader'),
    BLOCKVAULT_NATS_URL: nats.url,
    BLOCKVAULT_JOB_ACK_WAIT_MS: '3000',
    BLOCKVAULT_LOCK_TTL_MS: '3000',
    BLOCKVAULT_LOG_LEVEL: 'error',
  };
}

/** Starts one service with its fixed command line; resolves once it serves. */
function start(target: Target): Promise<ChildProcess> {
  const home = dir.file(target === 'scheduler' || target === 'worker' ? 'client-home' : `${target}-home`);
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', home, 'serve', '--target', target, '--listen', listen.get(target)!],
    {
      env: environment(),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  running.set(target, child);
  return new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.trimEnd().endsWith('}')) done(child);
    });
    child.once('exit', (code) => fail(new Error(`serve --target ${target} exited with ${code}`)));
  });
}

function stop(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  return new Promise((done) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill(signal);
  });
}

/** SIGTERM; a service that has not exited after 15 s is killed and named (a shutdown that hangs is a bug). */
async function shutDown(target: Target): Promise<string | undefined> {
  const child = running.get(target);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child?.kill('SIGKILL');
  }, 15_000);
  await stop(child, 'SIGTERM');
  clearTimeout(timer);
  return hung ? target : undefined;
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI as a user runs it, against the scheduler's job API; its stderr is readable while it runs. */
function launchCli(...args: string[]): { readonly queued: Promise<string>; readonly done: Promise<Run> } {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--server', listen.get('scheduler')!, '--json', ...args], { env: environment() });
  let stdout = '';
  let stderr = '';
  let onQueued!: (id: string) => void;
  const queued = new Promise<string>((resolve) => (onQueued = resolve));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    const id = /job (\S+) queued/.exec(stderr)?.[1];
    if (id) onQueued(id);
  });
  // 'close', not 'exit': every byte of its output has been read by then.
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  const queuedOrEnded = Promise.race([
    queued,
    done.then((r) => Promise.reject(new Error(`the CLI ended before queueing a job (exit ${r.code}): ${r.stderr}`))),
  ]);
  // Commands that queue nothing (jobs) never look at it.
  queuedOrEnded.catch((_unused: unknown) => undefined);
  return { queued: queuedOrEnded, done };
}

const blockvault = (...args: string[]): Promise<Run> => launchCli(...args).done;

/** The CLI without --server, beside the services (their metadata, blobs and NATS), as an operator runs show or du. */
function beside(...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', dir.file('client-home'), '--json', ...args], { env: environment() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
}

/** The job the CLI queued, once its worker has done some blocks (seen through WatchJob). */
async function jobUnderWay(cli: { readonly queued: Promise<string> }, operation: string): Promise<string> {
  const id = await cli.queued;
  const client = new JobServiceClient(listen.get('scheduler')!, grpc.credentials.createInsecure());
  try {
    await new Promise<void>((done, fail) => {
      const stream = client.watchJob({ id });
      stream.on('data', (job: Job) => {
        if (job.state === JobState.JOB_STATE_RUNNING && (job.progress?.blocksDone ?? 0) > 0) {
          stream.cancel();
          done();
        }
      });
      stream.on('end', () => fail(new Error(`the ${operation} ended before the fault could be injected`)));
      stream.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : fail(e)));
    });
  } finally {
    client.close();
  }
  return id;
}

async function attemptsOf(id: string): Promise<number> {
  const r = await blockvault('jobs', '--limit', '100');
  return (JSON.parse(r.stdout) as { id: string; attempts: number }[]).find((j) => j.id === id)?.attempts ?? -1;
}

/** Runs `args` through the CLI, kills `target` once the job is under way, restarts it, and checks the outcome. */
/** What the suite kills and starts again: one of the services, or nats-server. */
type Victim = Target | 'nats-server';

async function kill(victim: Victim): Promise<void> {
  if (victim === 'nats-server') await nats.kill();
  else await stop(running.get(victim), 'SIGKILL');
}

async function restart(victim: Victim): Promise<void> {
  if (victim === 'nats-server') await nats.restart();
  else await start(victim);
}

async function survives(name: string, target: Victim, operation: string, args: string[]): Promise<unknown> {
  const cli = launchCli(...args);
  const id = await jobUnderWay(cli, operation);
  await kill(target);
  const killedAt = performance.now();
  await new Promise((r) => setTimeout(r, RESTART_AFTER_MS));
  await restart(target);
  const result = await cli.done;
  const recovery = ((performance.now() - killedAt) / 1000).toFixed(1);
  assert.equal(result.code, 0, `${name}: exit ${result.code}: ${result.stderr}`);
  rows.push({ case: name, outcome: 'SUCCEEDED', recoverySeconds: recovery, attempts: await attemptsOf(id) });
  return JSON.parse(result.stdout) as unknown;
}

before(async () => {
  nats = await startNats();
  dir = await tempDir();
  for (const t of TARGETS) listen.set(t, `127.0.0.1:${await freePort()}`);
  image = buildImage(
    Array.from({ length: IMAGE_BLOCKS }, (_, i) => (i % 7 === 3 ? 0 : 'r')),
    BLOCK,
    77,
  );
  await writeFile(dir.file('disk.img'), image);
  for (const t of TARGETS) await start(t);
});

after(async () => {
  const hung: string[] = [];
  for (const t of [...TARGETS].reverse()) {
    const h = await shutDown(t);
    if (h) hung.push(h);
  }
  await nats?.stop();
  await dir?.remove();
  assert.deepEqual(hung, [], 'every service stops on SIGTERM');
  if (rows.length > 0) {
    const table = [
      '| case | outcome | recovery (s) | attempts |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.case} | ${r.outcome} | ${r.recoverySeconds} | ${r.attempts} |`),
    ];
    process.stdout.write(`\nfault suite: restarts\n${table.join('\n')}\n`);
  }
});

describe('a running job rides out the restart of each service', () => {
  for (const target of [...TARGETS, 'nats-server'] as const) {
    it(`backup, ${target} killed while reading`, async () => {
      const out = (await survives(`backup: ${target} killed while reading`, target, 'backup', [
        'backup',
        dir.url('disk.img'),
        `vm-${target}`,
      ])) as {
        version: { uid: string; valid: boolean };
      };
      assert.equal(out.version.valid, true);
      const restored = await blockvault('restore', out.version.uid, dir.url(`out-${target}.img`));
      assert.equal(restored.code, 0, restored.stderr);
      assert.deepEqual(await dir.read(`out-${target}.img`), image, 'the restored image equals the source');
      const scrubbed = await blockvault('deep-scrub', out.version.uid);
      assert.equal(scrubbed.code, 0, scrubbed.stderr);
    });
  }

  for (const target of ['reader', 'blob-store'] as const) {
    it(`restore, ${target} killed while writing`, async () => {
      const backup = await blockvault('backup', dir.url('disk.img'), `vm-restore-${target}`);
      assert.equal(backup.code, 0, backup.stderr);
      const uid = (JSON.parse(backup.stdout) as { version: { uid: string } }).version.uid;
      await survives(`restore: ${target} killed while writing`, target, 'restore', ['restore', uid, dir.url(`restore-${target}.img`)]);
      assert.deepEqual(await dir.read(`restore-${target}.img`), image, 'the restored image equals the source');
    });
  }
});

describe('damage in the blob store', () => {
  it('deep-scrub finds N corrupted blobs of N, and the next backup heals every version', async () => {
    const blocks = 8;
    const corrupt = 3;
    const img = buildImage(Array<'r'>(blocks).fill('r'), BLOCK, 4242);
    await writeFile(dir.file('rot.img'), img);
    const first = await blockvault('backup', dir.url('rot.img'), 'vm-rot');
    assert.equal(first.code, 0, first.stderr);
    const uid = (JSON.parse(first.stdout) as { version: { uid: string } }).version.uid;
    // This version's blobs, as `show` (beside the services, through the metadata service) names them.
    const shown = await beside('show', uid);
    assert.equal(shown.code, 0, shown.stderr);
    const uids = new Set((JSON.parse(shown.stdout) as { blocks: { uid: string | null }[] }).blocks.map((b) => b.uid));
    const files = (await blobFiles(dir.file('blob-store-home/blobs'))).filter((f) => uids.has(f.slice(f.lastIndexOf('/') + 1)));
    assert.equal(files.length, blocks + 1, 'one blob per distinct block, the short tail included');
    for (const f of files.slice(0, corrupt)) {
      const bytes = await readFile(f);
      bytes[bytes.length - 100]! ^= 0x55;
      await writeFile(f, bytes);
    }
    const scrub = await blockvault('deep-scrub', uid);
    assert.equal(scrub.code, 5, scrub.stderr);
    assert.equal((JSON.parse(scrub.stdout) as { damagedBlocks: number[] }).damagedBlocks.length, corrupt, 'N of N found');
    const healing = await blockvault('backup', dir.url('rot.img'), 'vm-rot');
    assert.equal(healing.code, 0, healing.stderr);
    const written = (JSON.parse(healing.stdout) as { stats: { blocksWritten: number } }).stats.blocksWritten;
    assert.equal(written, corrupt, 'only the damaged blocks are stored again');
    const again = await blockvault('deep-scrub', uid);
    assert.equal(again.code, 0, `the first version is whole again: ${again.stderr}`);
    const restored = await blockvault('restore', uid, dir.url('rot-out.img'));
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await dir.read('rot-out.img'), img);
    rows.push({
      case: `${corrupt} of ${blocks + 1} blobs corrupted in the blob store`,
      outcome: `found ${corrupt} of ${corrupt}; healed by the next backup`,
      recoverySeconds: '-',
      attempts: 1,
    });
  });
});

/** Every blob file under a file blob store (`ab/cd/<uid>`). */
async function blobFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const a of await readdir(root)) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue;
    for (const b of await readdir(join(root, a))) for (const f of await readdir(join(root, a, b))) out.push(join(root, a, b, f));
  }
  return out;
}
