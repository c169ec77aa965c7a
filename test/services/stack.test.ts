/**
 * `npm run stack` as a supervisor: a service killed with SIGKILL is restarted on its own port and
 * the deployment keeps working; SIGTERM then stops every process the stack started.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, cli, freePort, json, tempDir, type TempDir } from '@blockvault/testing';

const STACK = resolve(import.meta.dirname, '../../infra/local/stack.ts');
let dir: TempDir;
let stack: ChildProcess;
let log = '';
let listen = '';
/** Resolves once the stack's stderr matches `pattern`, with the match. */
let waitForLine: (pattern: RegExp) => Promise<RegExpMatchArray>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  dir = await tempDir();
  listen = `127.0.0.1:${await freePort()}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  stack = spawn(process.execPath, [STACK, '--home', dir.file('home'), '--listen', listen, '--workers', '1'], {
    env: { ...env, BLOCKVAULT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const waiters: { pattern: RegExp; done: (m: RegExpMatchArray) => void }[] = [];
  stack.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
    for (const w of [...waiters]) {
      const m = log.match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done(m);
      }
    }
  });
  waitForLine = (pattern) =>
    new Promise((done, fail) => {
      const m = log.match(pattern);
      if (m) return done(m);
      waiters.push({ pattern, done });
      stack.once('exit', (code) => fail(new Error(`the stack exited (${code}) before ${pattern}:\n${log}`)));
    });
  await waitForLine(/stack: up/);
});

after(async () => {
  if (stack.exitCode === null && stack.signalCode === null) {
    const exited = new Promise((done) => stack.once('exit', done));
    stack.kill('SIGTERM');
    await exited;
  }
  await dir.remove();
});

describe('npm run stack', () => {
  it('restarts a killed service on its port, keeps serving, and stops everything on SIGTERM', async () => {
    const pids = [...log.matchAll(/stack: [a-z-]+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 5, `metadata, blob-store, reader, scheduler, a worker:\n${log}`);
    const reader = Number(log.match(/stack: reader \(pid (\d+)\)/)![1]);
    process.kill(reader, 'SIGKILL');
    const restarted = Number((await waitForLine(/stack: restarted reader \(pid (\d+)\)/))[1]);
    assert.notEqual(restarted, reader);

    const img = buildImage(['r', 'z', 'r'], 1024 * 1024, 3);
    await writeFile(dir.file('disk.img'), img);
    const server = ['--server', listen, '--json'];
    const backup = json<{ version: { uid: string } }>(await cli([...server, 'backup', dir.url('disk.img'), 'vm1']));
    json(await cli([...server, 'restore', backup.version.uid, dir.url('out.img')]));
    assert.deepEqual(await dir.read('out.img'), img, 'the restarted reader serves the same files');

    const exited = new Promise<number | null>((done) => stack.once('exit', (code) => done(code)));
    stack.kill('SIGTERM');
    await exited;
    assert.match(log, /stack: stopped/);
    for (const pid of [...pids, restarted]) assert.equal(alive(pid), false, `pid ${pid} is gone`);
  });
});
