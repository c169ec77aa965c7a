/**
 * `npm run stack`: a local distributed deployment on loopback, each service its own process:
 * nats-server (JetStream), the metadata service (SQLite under --home, or MongoDB from
 * BLOCKVAULT_MONGO_*), the blob-store service (files under --home, or S3 from BLOCKVAULT_S3_*),
 * the reader service (or several), the scheduler (job API) and two workers. The scheduler and
 * workers reach the database, the blobs and the sources only through those services; readers
 * store new blocks through the blob-store service. With `--readers N` (N > 1) each reader serves
 * its own root, `<home>/sources-<i>`, and announces it in NATS; the scheduler and workers route
 * each URL to the reader whose root holds it (BLOCKVAULT_READER_URL=discover).
 *
 * It supervises what it starts, as a pod's restart policy would: a service that dies is started
 * again with its own command line and port, after a backoff (`stack: restarted TARGET (pid N)`).
 * SIGINT or SIGTERM stops every process it started, whatever happened before, and removes
 * NATS's temporary directory; the repository under --home stays.
 *
 *   npm run stack [-- --home DIR] [-- --listen 127.0.0.1:7070] [-- --workers 2] [-- --readers 1]
 * Then: npx blockvault --server 127.0.0.1:7070 backup file:///path/disk.img vm1
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { BLOCKVAULT_BIN, freePort, startNats } from '@blockvault/testing';

const { values } = parseArgs({
  options: {
    home: { type: 'string', default: process.env['BLOCKVAULT_HOME'] ?? join(homedir(), '.local', 'share', 'blockvault-stack') },
    listen: { type: 'string', default: '127.0.0.1:7070' },
    workers: { type: 'string', default: '2' },
    readers: { type: 'string', default: '1' },
  },
});

/** A restarted service waits this long first, doubling up to MAX_BACKOFF_MS; a minute up resets it. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;
const STOP_GRACE_MS = 10_000;

interface Service {
  readonly target: string;
  readonly args: readonly string[];
  /** Its own settings beside the shared ones (a reader's root). */
  readonly env?: Record<string, string>;
  child?: ChildProcess;
  backoffMs: number;
  started: number;
}

const nats = await startNats();
const services: Service[] = [];
/** Where the scheduler and workers find the metadata, blob-store and reader services. */
const serviceEnv: Record<string, string> = {};
let stopping = false;

/** Starts `blockvault serve --target`; resolves once it announces that it serves. */
function launch(s: Service): Promise<void> {
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', values.home, 'serve', '--target', s.target, '--nats', nats.url, ...s.args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...serviceEnv, ...s.env },
    },
  );
  s.child = child;
  s.started = performance.now();
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`stack: ${s.target} (pid ${child.pid}) exited (${signal ?? `code ${code}`})\n`);
    if (performance.now() - s.started > 60_000) s.backoffMs = FIRST_BACKOFF_MS;
    const wait = s.backoffMs;
    s.backoffMs = Math.min(s.backoffMs * 2, MAX_BACKOFF_MS);
    setTimeout(() => {
      if (stopping) return;
      launch(s).then(
        () => process.stderr.write(`stack: restarted ${s.target} (pid ${s.child?.pid})\n`),
        (err: unknown) => process.stderr.write(`stack: ${s.target} did not come back: ${(err as Error).message}\n`),
      );
    }, wait);
  });
  return new Promise((done, fail) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!out.trimEnd().endsWith('}')) return;
      child.stdout?.off('data', onData);
      const info = JSON.parse(out) as { port: number | null };
      process.stderr.write(`stack: ${s.target} (pid ${child.pid})${info.port ? ` on 127.0.0.1:${info.port}` : ''}\n`);
      done();
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${s.target} exited with ${code} before it served`)));
  });
}

async function start(target: string, args: string[], env?: Record<string, string>): Promise<void> {
  const s: Service = { target, args, ...(env ? { env } : {}), backoffMs: FIRST_BACKOFF_MS, started: 0 };
  services.push(s);
  await launch(s);
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
function end(child: ChildProcess | undefined): Promise<void> {
  return new Promise((done) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Workers and the scheduler first, then the services they use; each step runs whatever failed before.
  for (const s of [...services].reverse())
    await end(s.child).catch((err: unknown) => process.stderr.write(`stack: stopping ${s.target}: ${(err as Error).message}\n`));
  await nats.stop().catch((err: unknown) => process.stderr.write(`stack: stopping nats-server: ${(err as Error).message}\n`));
  process.stderr.write('stack: stopped\n');
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

try {
  for (const [target, variable] of [
    ['metadata', 'BLOCKVAULT_METADATA_URL'],
    ['blob-store', 'BLOCKVAULT_BLOBSTORE_URL'],
  ] as const) {
    // A fixed port: a restarted service comes back where its clients look for it.
    const address = `127.0.0.1:${await freePort()}`;
    serviceEnv[variable] = address;
    await start(target, ['--listen', address]);
  }
  const readers = Number(values.readers);
  if (readers === 1) {
    const address = `127.0.0.1:${await freePort()}`;
    await start('reader', ['--listen', address]);
    serviceEnv['BLOCKVAULT_READER_URL'] = address;
  } else {
    for (let i = 1; i <= readers; i++) {
      const root = join(values.home, `sources-${i}`);
      mkdirSync(root, { recursive: true });
      await start('reader', ['--listen', `127.0.0.1:${await freePort()}`], { BLOCKVAULT_IO_ROOTS: root });
      process.stderr.write(`stack: reader ${i} serves ${root}\n`);
    }
    serviceEnv['BLOCKVAULT_READER_URL'] = 'discover';
  }
  await start('scheduler', ['--listen', values.listen]);
  for (let i = 0; i < Number(values.workers); i++) await start('worker', []);
  process.stderr.write(
    `stack: up. NATS ${nats.url}; job API ${values.listen}; repository ${values.home}\nstack: try  npx blockvault --server ${values.listen} ls\n`,
  );
} catch (err) {
  process.stderr.write(`stack: ${(err as Error).message}\n`);
  await stop();
  process.exitCode = 1;
}
