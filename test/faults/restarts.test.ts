/**
 * The fault suite: the five services apart (metadata, blob-store and reader services, scheduler,
 * worker) on real servers of the suite's own (nats-server, FerretDB for the metadata service, a
 * RADOS Gateway for the blob-store service), the stores reached through Toxiproxy. Each service and
 * each server is killed with SIGKILL at three moments of a `--server` backup (while it reads,
 * while it commits segments, right before the version completes) and while a restore writes, then
 * started again with its own command line a few seconds later, as a rolling update or a crashed
 * pod would. For every case: the CLI's job ends SUCCEEDED with exit 0, the restored image equals
 * the source byte for byte, deep-scrub is clean, no job is left unfinished, and the attempts spent
 * are reported. Also: N corrupted blobs found N of N and healed; a blob store slower than the
 * per-call deadline. A table of the cases is printed at the end (copied into the README's
 * Guarantees section).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Client as S3Client } from 'minio';
import { JobServiceClient, JobState, type Job } from '@blockvault/proto';
import {
  BLOCKVAULT_BIN,
  buildImage,
  freePort,
  startFerretDb,
  startNats,
  startToxiproxy,
  tempDir,
  useGateway,
  type BlockSpec,
  type Gateway,
  type MongoServer,
  type NatsServer,
  type TempDir,
  type ToxiproxyServer,
} from '@blockvault/testing';

const TARGETS = ['metadata', 'blob-store', 'reader', 'scheduler', 'worker'] as const;
type Target = (typeof TARGETS)[number];
/** What the suite kills and starts again: one of the services, or one of the servers under them. */
const VICTIMS = [...TARGETS, 'nats-server', 'ferretdb', 'rgw'] as const;
type Victim = (typeof VICTIMS)[number];

/** 1 MiB blocks, 8 to a segment: a 64-block image is 8 segments, committed one by one. */
const BLOCK = 1024 * 1024;
const BLOCKS_PER_SEGMENT = 8;
const IMAGE_BLOCKS = 64;
/** Added to every answer of the S3 store, so that a backup spans a few seconds of progress reports. */
const S3_LATENCY_MS = 150;
const RESTART_AFTER_MS = 2000;
/** Bucket names are global to the cluster, which other test files and runs share. */
const BUCKET = `faults-${randomBytes(4).toString('hex')}`;

let nats: NatsServer;
let mongo: MongoServer;
let gateway: Gateway;
let toxiproxy: ToxiproxyServer;
let s3Port: number;
let mongoUrl: string;
let dir: TempDir;
const listen = new Map<Target, string>();
const running = new Map<Target, ChildProcess>();
const rows: { case: string; landed: string; outcome: string; recoverySeconds: string; attempts: string }[] = [];

/** What every process of the deployment shares; each service adds the store it owns. */
function environment(target?: Target): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  const common = {
    ...clean,
    BLOCKVAULT_NATS_URL: nats.url,
    BLOCKVAULT_JOB_ACK_WAIT_MS: '3000',
    BLOCKVAULT_LOCK_TTL_MS: '3000',
    BLOCKVAULT_LOG_LEVEL: 'warn',
  };
  if (target === 'metadata') return { ...common, BLOCKVAULT_MONGO_URL: mongoUrl, BLOCKVAULT_MONGO_DATABASE: 'faults' };
  // The reader stores new blocks itself, through the blob-store service.
  if (target === 'reader') return { ...common, BLOCKVAULT_BLOBSTORE_URL: listen.get('blob-store'), BLOCKVAULT_STORE_DEADLINE_MS: '4000' };
  if (target === 'blob-store') {
    return {
      ...common,
      BLOCKVAULT_S3_ENDPOINT: '127.0.0.1',
      BLOCKVAULT_S3_PORT: String(s3Port),
      BLOCKVAULT_S3_USE_SSL: 'false',
      BLOCKVAULT_S3_ACCESS_KEY: gateway.s3.accessKey,
      BLOCKVAULT_S3_SECRET_KEY: gateway.s3.secretKey,
      BLOCKVAULT_S3_REGION: gateway.s3.region,
      BLOCKVAULT_S3_BUCKET: BUCKET,
    };
  }
  return {
    ...common,
    BLOCKVAULT_METADATA_URL: listen.get('metadata'),
    BLOCKVAULT_BLOBSTORE_URL: listen.get('blob-store'),
    BLOCKVAULT_READER_URL: listen.get('reader'),
    // The slow-store case holds the store past this; elsewhere it is never reached.
    BLOCKVAULT_STORE_DEADLINE_MS: '4000',
  };
}

/** Starts one service with its fixed command line; resolves once it serves. */
function start(target: Target): Promise<ChildProcess> {
  const home = dir.file(target === 'scheduler' || target === 'worker' ? 'client-home' : `${target}-home`);
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', home, 'serve', '--target', target, '--listen', listen.get(target)!],
    // Each service's log (pino, warnings and up) goes to <dir>/<target>.log, kept across its restarts.
    { env: environment(target), stdio: ['ignore', 'pipe', openSync(dir.file(`${target}.log`), 'a')] },
  );
  running.set(target, child);
  return new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.trimEnd().endsWith('}')) done(child);
    });
    child.once('exit', (code) => {
      const log = readFileSync(dir.file(`${target}.log`), 'utf8').slice(-2000);
      fail(new Error(`serve --target ${target} exited with ${code}; its log ends:\n${log}`));
    });
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

/** The CLI without --server, beside the services (their metadata, blobs and NATS), as an operator runs show or init. */
function beside(...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', dir.file('client-home'), '--json', ...args], { env: environment() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
}

/** When in a job the fault is injected, by the progress its worker reports (through WatchJob). */
type Moment = 'reading' | 'committing' | 'completing' | 'writing';
const MOMENTS: Record<Moment, (done: number, total: number) => boolean> = {
  reading: (done) => done > 0,
  writing: (done) => done > 0,
  committing: (done, total) => done >= total / 2,
  completing: (done, total) => done === total,
};

/** Waits until the job the CLI queued reaches `moment`; resolves with its progress then ("N/M blocks"). */
async function jobAt(cli: { readonly queued: Promise<string> }, moment: Moment): Promise<{ id: string; landed: string }> {
  const id = await cli.queued;
  const client = new JobServiceClient(listen.get('scheduler')!, grpc.credentials.createInsecure());
  try {
    const landed = await new Promise<string>((done, fail) => {
      const stream = client.watchJob({ id });
      stream.on('data', (job: Job) => {
        const p = job.progress;
        if (job.state === JobState.JOB_STATE_RUNNING && p && MOMENTS[moment](p.blocksDone, p.blocksTotal)) {
          stream.cancel();
          done(`${p.blocksDone}/${p.blocksTotal} blocks`);
        }
      });
      stream.on('end', () => fail(new Error(`the job ended before the fault could be injected ${moment}`)));
      stream.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : fail(e)));
    });
    return { id, landed };
  } finally {
    client.close();
  }
}

interface JobRow {
  readonly id: string;
  readonly state: string;
  readonly attempts: number;
}

async function jobs(): Promise<JobRow[]> {
  const r = await blockvault('jobs', '--limit', '1000');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JobRow[];
}

async function kill(victim: Victim): Promise<void> {
  if (victim === 'nats-server') await nats.kill();
  else if (victim === 'ferretdb') await mongo.kill();
  else if (victim === 'rgw') await gateway.kill();
  else await stop(running.get(victim), 'SIGKILL');
}

async function restart(victim: Victim): Promise<void> {
  if (victim === 'nats-server') await nats.restart();
  else if (victim === 'ferretdb') await mongo.restart();
  else if (victim === 'rgw') await gateway.restart();
  else await start(victim);
}

/** Runs `args` through the CLI, kills `victim` at `moment`, restarts it, and checks that the job succeeded. */
async function survives(name: string, victim: Victim, moment: Moment, args: string[]): Promise<unknown> {
  const cli = launchCli(...args);
  const { id, landed } = await jobAt(cli, moment);
  await kill(victim);
  const killedAt = performance.now();
  await new Promise((r) => setTimeout(r, RESTART_AFTER_MS));
  await restart(victim);
  const result = await cli.done;
  const recovery = ((performance.now() - killedAt) / 1000).toFixed(1);
  assert.equal(result.code, 0, `${name}: exit ${result.code}: ${result.stderr}`);
  const all = await jobs();
  const job = all.find((j) => j.id === id);
  assert.equal(job?.state, 'succeeded', `${name}: the job's recorded state`);
  assert.deepEqual(
    all.filter((j) => j.state === 'queued' || j.state === 'running').map((j) => j.id),
    [],
    `${name}: no job is left unfinished`,
  );
  rows.push({ case: name, landed, outcome: 'SUCCEEDED', recoverySeconds: recovery, attempts: String(job.attempts) });
  return JSON.parse(result.stdout) as unknown;
}

/** A 64-block image of its own for each case: 48 new random blocks, 8 zero, 8 copies inside it. */
async function freshImage(name: string): Promise<Buffer> {
  const specs: BlockSpec[] = Array.from({ length: IMAGE_BLOCKS }, (_, i) => (i % 8 === 3 ? 'z' : i % 8 === 6 ? i - 6 : 'r'));
  const image = buildImage(specs, BLOCK);
  await writeFile(dir.file(name), image);
  return image;
}

before(async () => {
  dir = await tempDir();
  [nats, mongo, gateway, toxiproxy] = await Promise.all([startNats(), startFerretDb(), useGateway(), startToxiproxy()]);
  const s3 = await toxiproxy.proxy('s3', `127.0.0.1:${gateway.s3.port}`);
  await s3.addToxic({
    name: 'slow-answers',
    type: 'latency',
    stream: 'downstream',
    toxicity: 1,
    attributes: { latency: S3_LATENCY_MS, jitter: 0 },
  });
  s3Port = Number(s3.listen.split(':')[1]);
  const mongoProxy = await toxiproxy.proxy('mongo', mongo.url.replace(/^mongodb:\/\/|\/$/g, ''));
  mongoUrl = `mongodb://${mongoProxy.listen}/`;
  for (const t of TARGETS) listen.set(t, `127.0.0.1:${await freePort()}`);
  await start('metadata');
  await start('blob-store');
  const init = await beside('init', '--block-size', String(BLOCK), '--blocks-per-segment', String(BLOCKS_PER_SEGMENT));
  assert.equal(init.code, 0, init.stderr);
  for (const t of ['reader', 'scheduler', 'worker'] as const) await start(t);
});

after(async () => {
  const hung: string[] = [];
  for (const t of [...TARGETS].reverse()) {
    const h = await shutDown(t);
    if (h) hung.push(h);
  }
  await Promise.all([nats?.stop(), mongo?.stop(), gateway?.stop(), toxiproxy?.stop()]);
  await dir?.remove();
  assert.deepEqual(hung, [], 'every service stops on SIGTERM');
  if (rows.length > 0) {
    const table = [
      '| case | killed at | outcome | recovery (s) | attempts |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.case} | ${r.landed} | ${r.outcome} | ${r.recoverySeconds} | ${r.attempts} |`),
    ];
    process.stdout.write(`\nfault suite: restarts\n${table.join('\n')}\n`);
  }
});

describe('a running job rides out the restart of each service and server', () => {
  for (const moment of ['reading', 'committing', 'completing'] as const) {
    for (const victim of VICTIMS) {
      it(`backup, ${victim} killed while ${moment}`, async () => {
        const name = `${victim}-${moment}`;
        const image = await freshImage(`${name}.img`);
        const out = (await survives(`backup: ${victim} killed while ${moment}`, victim, moment, [
          'backup',
          dir.url(`${name}.img`),
          name,
        ])) as {
          version: { uid: string; valid: boolean };
        };
        assert.equal(out.version.valid, true);
        const restored = await blockvault('restore', out.version.uid, dir.url(`${name}.out`));
        // Issue 12: once in CI a version that passed here had unreadable blocks. Say which part is missing.
        if (restored.code !== 0) assert.fail(`${restored.stderr}\n${await whyDamaged(out.version.uid)}`);
        assert.deepEqual(await dir.read(`${name}.out`), image, 'the restored image equals the source');
        const scrubbed = await blockvault('deep-scrub', out.version.uid);
        assert.equal(scrubbed.code, 0, scrubbed.stderr);
      });
    }
  }

  for (const victim of VICTIMS) {
    it(`restore, ${victim} killed while writing`, async () => {
      const name = `restore-${victim}`;
      const image = await freshImage(`${name}.img`);
      const backup = await blockvault('backup', dir.url(`${name}.img`), name);
      assert.equal(backup.code, 0, backup.stderr);
      const uid = (JSON.parse(backup.stdout) as { version: { uid: string } }).version.uid;
      await survives(`restore: ${victim} killed while writing`, victim, 'writing', ['restore', uid, dir.url(`${name}.out`)]);
      assert.deepEqual(await dir.read(`${name}.out`), image, 'the restored image equals the source');
    });
  }
});

describe('damage and slowness in the blob store', () => {
  it('deep-scrub finds N corrupted blobs of N, and the next backup heals every version', async () => {
    const blocks = 8;
    const corrupt = 3;
    const img = buildImage(Array<'r'>(blocks).fill('r'), BLOCK, 4242);
    await writeFile(dir.file('rot.img'), img);
    const first = await blockvault('backup', dir.url('rot.img'), 'vm-rot');
    assert.equal(first.code, 0, first.stderr);
    const uid = (JSON.parse(first.stdout) as { version: { uid: string } }).version.uid;
    const uids = await blobsOf(uid);
    assert.equal(uids.length, blocks + 1, 'one blob per distinct block, the short tail included');
    const s3 = s3Client();
    for (const key of uids.slice(0, corrupt)) {
      const bytes = Buffer.concat(await (await s3.getObject(BUCKET, blobObject(key))).toArray());
      bytes[bytes.length - 100]! ^= 0x55;
      await s3.putObject(BUCKET, blobObject(key), bytes);
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
      landed: '-',
      outcome: `found ${corrupt} of ${corrupt}; healed by the next backup`,
      recoverySeconds: '-',
      attempts: '1',
    });
  });

  it('a store slower than the call deadline is retried, and each block is stored and committed once', async () => {
    const image = await freshImage('slow.img');
    const before = await storedBlobs();
    const cli = launchCli('backup', dir.url('slow.img'), 'vm-slow');
    const { id, landed } = await jobAt(cli, 'reading');
    // Answers now take longer than BLOCKVAULT_STORE_DEADLINE_MS (4 s): calls in flight time out and are retried.
    const s3 = await toxiproxy.client.get('s3');
    const stall = await s3.addToxic({
      name: 'stall',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 6000, jitter: 0 },
    });
    const stalledAt = performance.now();
    await new Promise((r) => setTimeout(r, 7000));
    await stall.remove();
    const result = await cli.done;
    const recovery = ((performance.now() - stalledAt) / 1000).toFixed(1);
    assert.equal(result.code, 0, result.stderr);
    const uid = (JSON.parse(result.stdout) as { version: { uid: string } }).version.uid;
    // The reader stores new blocks (through the blob-store service), so its calls are the ones retried.
    const log = (await readFile(dir.file('reader.log'), 'utf8')).split('\n');
    const retried = log.filter((l) => l.includes('the blob store is unavailable; retrying') && l.includes('did not answer within 4000 ms'));
    assert.ok(retried.length > 0, 'calls to the stalled store tripped the deadline and were retried');
    const referenced = new Set(await blobsOf(uid));
    assert.equal(referenced.size, IMAGE_BLOCKS - 8 - 8, 'one blob per distinct non-zero block');
    const added = [...(await storedBlobs())].filter((k) => !before.has(k));
    assert.deepEqual(added.sort(), [...referenced].sort(), 'the store gained exactly the blobs the version refers to: none stored twice');
    const restored = await blockvault('restore', uid, dir.url('slow.out'));
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await dir.read('slow.out'), image);
    const attempts = (await jobs()).find((j) => j.id === id)?.attempts ?? -1;
    rows.push({
      case: `blob store answers slower than the deadline for 7 s (${retried.length} calls retried)`,
      landed,
      outcome: 'SUCCEEDED',
      recoverySeconds: recovery,
      attempts: String(attempts),
    });
  });
});

/** Where the S3 blob store keeps a blob (see libs/adapters/s3). */
const blobObject = (uid: string): string => `blocks/${uid.slice(0, 2)}/${uid}`;

/** The uids of every blob in the bucket. */
async function storedBlobs(): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of s3Client().listObjectsV2(BUCKET, 'blocks/', true) as AsyncIterable<{ name?: string }>) {
    if (o.name) out.add(o.name.slice(o.name.lastIndexOf('/') + 1));
  }
  return out;
}

function s3Client(): S3Client {
  return new S3Client({ ...gateway.s3, pathStyle: true });
}

/**
 * Why a version's blocks cannot be read: per damaged block, whether its blob row is missing (the
 * metadata has no blob for its checksum) or its object is (the row names a blob S3 lacks), and
 * the end of each service's log.
 */
async function whyDamaged(uid: string): Promise<string> {
  const shown = await beside('show', uid, '--blocks');
  if (shown.code !== 0) return `show failed: ${shown.stderr}`;
  const objects = await storedBlobs();
  const blocks = (JSON.parse(shown.stdout) as { blocks: { id: number; uid: string | null; checksum: string | null; valid: boolean }[] })
    .blocks;
  const lines = blocks.flatMap((b) => {
    if (b.checksum === null) return [];
    if (b.uid === null) return [`block ${b.id}: no blob row for checksum ${b.checksum}`];
    if (!objects.has(b.uid)) return [`block ${b.id}: blob ${b.uid} has a row (valid ${b.valid}) but no object in S3`];
    return b.valid ? [] : [`block ${b.id}: blob ${b.uid} marked invalid (its object exists)`];
  });
  const logs = await Promise.all(
    TARGETS.map(async (t) => `--- ${t}.log (end)\n${(await readFile(dir.file(`${t}.log`), 'utf8').catch(() => '')).slice(-3000)}`),
  );
  return [`damaged blocks of ${uid}:`, ...lines, ...logs].join('\n');
}

/** The blob uids a version's blocks refer to (sparse blocks have none), as `show` names them. */
async function blobsOf(uid: string): Promise<string[]> {
  const shown = await beside('show', uid, '--blocks');
  assert.equal(shown.code, 0, shown.stderr);
  return (JSON.parse(shown.stdout) as { blocks: { uid: string | null }[] }).blocks.flatMap((b) => (b.uid ? [b.uid] : []));
}
