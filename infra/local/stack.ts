/**
 * `npm run stack`: a local distributed deployment on loopback, each service its own process:
 * nats-server (JetStream), the metadata service (SQLite under --home, or MongoDB from
 * BLOCKVAULT_MONGO_*), the blob-store service (files under --home, or S3 from BLOCKVAULT_S3_*),
 * the reader service, the scheduler (job API) and two workers. The scheduler and workers reach
 * the database, the blobs and the sources only through those services. Ctrl-C stops everything
 * it started.
 *
 *   npm run stack [-- --home DIR] [-- --listen 127.0.0.1:7070] [-- --workers 2]
 * Then: npx blockvault --server 127.0.0.1:7070 backup file:///path/disk.img vm1
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { BLOCKVAULT_BIN, startNats } from '@blockvault/testing';

const { values } = parseArgs({
  options: {
    home: { type: 'string', default: process.env['BLOCKVAULT_HOME'] ?? join(homedir(), '.local', 'share', 'blockvault-stack') },
    listen: { type: 'string', default: '127.0.0.1:7070' },
    workers: { type: 'string', default: '2' },
  },
});

const nats = await startNats();
const children: ChildProcess[] = [];
/** Where the scheduler and workers find the metadata, blob-store and reader services. */
const serviceEnv: Record<string, string> = {};

/** Starts `blockvault serve --target`; resolves with its gRPC port once it serves. */
function service(target: string, ...extra: string[]): Promise<number | null> {
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', values.home, 'serve', '--target', target, '--nats', nats.url, ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...serviceEnv },
    },
  );
  children.push(child);
  return new Promise((done, fail) => {
    child.stdout?.once('data', (d: Buffer) => {
      const info = JSON.parse(d.toString()) as { port: number | null };
      process.stderr.write(`stack: ${target} (pid ${child.pid})${info.port ? ` on 127.0.0.1:${info.port}` : ''}\n`);
      done(info.port);
    });
    child.once('exit', (code) => fail(new Error(`${target} exited with ${code}`)));
  });
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Workers and the scheduler first, then the services they use.
  for (const c of [...children].reverse())
    await new Promise<void>((done) => (c.exitCode !== null ? done() : (c.once('exit', () => done()), c.kill('SIGTERM'))));
  await nats.stop();
  process.stderr.write('stack: stopped\n');
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

try {
  for (const [target, variable] of [
    ['metadata', 'BLOCKVAULT_METADATA_URL'],
    ['blob-store', 'BLOCKVAULT_BLOBSTORE_URL'],
    ['reader', 'BLOCKVAULT_READER_URL'],
  ] as const) {
    serviceEnv[variable] = `127.0.0.1:${await service(target, '--listen', '127.0.0.1:0')}`;
  }
  await service('scheduler', '--listen', values.listen);
  for (let i = 0; i < Number(values.workers); i++) await service('worker');
  process.stderr.write(
    `stack: up. NATS ${nats.url}; job API ${values.listen}; repository ${values.home}\nstack: try  npx blockvault --server ${values.listen} ls\n`,
  );
} catch (err) {
  process.stderr.write(`stack: ${(err as Error).message}\n`);
  await stop();
  process.exitCode = 1;
}
