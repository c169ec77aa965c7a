/**
 * `npm run stack`: a local distributed deployment on loopback: nats-server (JetStream), the
 * scheduler (job API) and two workers, each its own process, sharing one repository (embedded
 * stores under --home, or MongoDB/S3 from BLOCKVAULT_*). Ctrl-C stops everything it started.
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
function service(target: string, ...extra: string[]): Promise<void> {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', values.home, 'serve', '--target', target, '--nats', nats.url, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((done, fail) => {
    child.stdout?.once('data', (d: Buffer) => {
      process.stderr.write(`stack: ${target} (pid ${child.pid}): ${d.toString().trim()}\n`);
      done();
    });
    child.once('exit', (code) => fail(new Error(`${target} exited with ${code}`)));
  });
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((c) => new Promise<void>((done) => (c.exitCode !== null ? done() : (c.once('exit', () => done()), c.kill('SIGTERM'))))));
  await nats.stop();
  process.stderr.write('stack: stopped\n');
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

try {
  await service('scheduler', '--listen', values.listen);
  for (let i = 0; i < Number(values.workers); i++) await service('worker');
  process.stderr.write(`stack: up. NATS ${nats.url}; job API ${values.listen}; repository ${values.home}\nstack: try  npx blockvault --server ${values.listen} ls\n`);
} catch (err) {
  process.stderr.write(`stack: ${(err as Error).message}\n`);
  await stop();
  process.exitCode = 1;
}
