/**
 * Instant restore into Ceph RBD (`blockvault restore UID rbd://POOL/IMAGE --live`): the image is
 * an import-only live migration from the command's own HTTP endpoint, readable as soon as the
 * command says so, and equal to the version after the copy is committed; a version that cannot
 * be read leaves no image behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BLOCKVAULT_BIN, buildImage, cli, tempDir, useCeph, type CephHandle, type TempDir } from '@blockvault/testing';

const run = promisify(execFile);
const BS = 64 * 1024;
let ceph: CephHandle;
let dir: TempDir;
before(async () => {
  ceph = await useCeph();
  dir = await tempDir();
  assert.equal((await cli(['--home', dir.file('home'), 'init', '--block-size', String(BS)])).code, 0);
});
after(async () => {
  await dir?.remove();
  await ceph?.stop();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function exported(spec: string): Promise<Buffer> {
  return (await run('rbd', ['export', spec, '-'], { env: ceph.env, encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 })).stdout;
}

async function imageExists(spec: string): Promise<boolean> {
  return run('rbd', ['info', spec], { env: ceph.env }).then(
    () => true,
    () => false,
  );
}

async function backup(name: string, image: Buffer): Promise<string> {
  await writeFile(dir.file(`${name}.img`), image);
  const r = await cli(['--home', dir.file('home'), '--json', 'backup', dir.url(`${name}.img`), name]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { version: { uid: string } }).version.uid;
}

/** Runs `restore --live`; `whenUsable` runs as soon as the command says the image is usable. */
function restoreLive(
  uid: string,
  target: string,
  whenUsable: () => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', dir.file('home'), '--json', 'restore', uid, target, '--live'], {
    // The embedded repository the backups went to: no BLOCKVAULT_* store settings (ceph.env
    // carries the test servers' when they run beside), and Ceph's configuration.
    env: Object.fromEntries(Object.entries(ceph.env).filter(([k]) => !k.startsWith('BLOCKVAULT_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let usable: Promise<void> = Promise.resolve();
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    const before = stderr;
    stderr += d.toString();
    if (!before.includes('usable now') && stderr.includes('usable now')) usable = whenUsable();
  });
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => usable.then(() => done({ code, stdout, stderr }), fail));
  });
}

describe('restore --live into RBD', () => {
  it('the image reads the version as soon as the command says it is usable, and equals it once the copy is committed', async () => {
    const image = buildImage(['r', 'r', 'z', 0, 'r', 'z', 'r', 1, 'r', 'r', 'r', 'r'], BS, 4097);
    const uid = await backup('live', image);
    const spec = `${ceph.pool}/live-${randomBytes(3).toString('hex')}`;
    let early: Buffer | undefined;
    const r = await restoreLive(uid, `rbd://${spec}`, async () => {
      early = await exported(spec);
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(early, 'the image was read while the command ran');
    assert.equal(sha(early), sha(image), 'read through the migration before the copy was committed');
    const result = JSON.parse(r.stdout) as { uid: string; live: boolean; sizeBytes: number; usableAfterSeconds: number };
    assert.deepEqual([result.uid, result.live, result.sizeBytes], [uid, true, image.length]);
    assert.equal(sha(await exported(spec)), sha(image), 'after the commit');
    const status = JSON.parse((await run('rbd', ['status', '--format', 'json', spec], { env: ceph.env })).stdout) as {
      migration?: unknown;
    };
    assert.equal(status.migration, undefined, 'no migration is left open');
  });

  it('a version whose blocks cannot be read leaves no image behind, and the command fails', async () => {
    const uid = await backup('damaged', buildImage(['r', 'r', 'r', 'r'], BS));
    // Damage every stored blob of the repository's file store.
    const blobs = dir.file('home/blobs');
    for (const entry of await readdir(blobs, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) await writeFile(join(entry.parentPath, entry.name), randomBytes(64));
    }
    const spec = `${ceph.pool}/damaged-${randomBytes(3).toString('hex')}`;
    const r = await restoreLive(uid, `rbd://${spec}`, async () => undefined);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /migration/);
    assert.equal(await imageExists(spec), false, 'the aborted migration removed the image');
  });

  it('refuses what --live cannot do, before touching Ceph', async () => {
    const uid = await backup('refused', buildImage(['r'], BS));
    for (const [args, message] of [
      [['restore', uid, dir.url('x.img'), '--live'], /--live restores into a new RBD image/],
      [['restore', uid, `rbd://${ceph.pool}/x`, '--live', '--sparse'], /takes no --sparse/],
    ] as const) {
      const r = await cli(['--home', dir.file('home'), ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
