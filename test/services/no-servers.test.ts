/**
 * `blockvault serve` on a fresh machine: no NATS, no database server, no S3. The job API, the
 * scheduler and a worker run in one process on the embedded stores with the job queue in process,
 * and the CLI's `--server` mode backs up and restores through it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { BLOCKVAULT_BIN, buildImage, cli, json, tempDir, type TempDir } from '@blockvault/testing';

const BS = 64 * 1024;
let dir: TempDir;
let child: ChildProcess;
let info: { port: number; queue: string; modules: string[] };

before(async () => {
  dir = await tempDir();
  // The environment without any BLOCKVAULT_* setting: nothing points at a server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  child = spawn(process.execPath, [BLOCKVAULT_BIN, '--json', '--home', dir.file('home'), 'serve', '--listen', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  info = await new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.trimEnd().endsWith('}')) done(JSON.parse(out) as typeof info);
    });
    child.once('exit', (code) => fail(new Error(`serve exited with ${code}: ${err}`)));
  });
});

after(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }
  await dir.remove();
});

describe('serve with no servers', () => {
  it('runs the job API, scheduler and worker in one process with the queue in process', () => {
    assert.equal(info.queue, 'in-process');
    assert.ok(info.modules.includes('scheduler') && info.modules.includes('worker'), info.modules.join(','));
  });

  it('a --server backup and restore give back the same bytes', async () => {
    const img = buildImage(['r', 'z', 0, 'r', 'r', 0], BS, 7);
    await writeFile(dir.file('disk.img'), img);
    const server = ['--server', `127.0.0.1:${info.port}`, '--json'];
    const backup = json<{ version: { uid: string; valid: boolean } }>(await cli([...server, 'backup', dir.url('disk.img'), 'vm1']));
    assert.equal(backup.version.valid, true);
    json(await cli([...server, 'restore', backup.version.uid, dir.url('out.img')]));
    assert.deepEqual(await dir.read('out.img'), img);
    const listed = json<{ uid: string }[]>(await cli([...server, 'ls']));
    assert.deepEqual(
      listed.map((v) => v.uid),
      [backup.version.uid],
    );
  });
});
