/**
 * The blob store's disk fills up mid-backup: a tmpfs this test mounts under the embedded
 * repository's blob directory, smaller than the image. The backup fails cleanly (exit 6, the
 * message says the file system is full), nothing it committed refers to a missing blob, no partial
 * file is left holding space, and once the file system is grown `backup --continue` finishes the
 * version, which then restores byte for byte and deep-scrubs clean.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { buildImage, cli, json, tempDir, type TempDir } from '@blockvault/testing';

const run = promisify(execFile);
const BLOCK = 4 * 1024 * 1024;
const root = process.getuid?.() === 0;

let dir: TempDir;
let blobs: string;
let mounted = false;

before(async () => {
  dir = await tempDir('blockvault-full-');
  blobs = dir.file('home/blobs');
  await mkdir(blobs, { recursive: true });
  if (root) {
    // 24 MiB: room for five of the image's sixteen 4 MiB blobs.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'blockvault-full', blobs]);
    mounted = true;
  }
});

after(async () => {
  if (mounted) await run('umount', [blobs]);
  await dir?.remove();
});

/** Every file under the blob directory, relative to it. */
async function files(): Promise<string[]> {
  return (await readdir(blobs, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

it(
  'a full blob store fails the backup cleanly, and --continue finishes it once space is freed',
  { skip: !root && 'mounting a tmpfs needs root' },
  async () => {
    const image = buildImage(Array<'r'>(16).fill('r'), BLOCK);
    await writeFile(dir.file('disk.img'), image);
    const home = ['--home', dir.file('home'), '--json'];
    const env = { BLOCKVAULT_STORE_RETRY_MS: '500' };

    const full = await cli([...home, 'backup', dir.url('disk.img'), 'vm-full'], undefined, env);
    assert.equal(full.code, 6, `exit 6 (unavailable) for a full store: ${full.stderr}`);
    assert.match(full.stderr, /file system is full \(ENOSPC\)/);

    const [version] = json<{ uid: string; valid: boolean }[]>(await cli([...home, 'ls', 'vm-full']));
    assert.ok(version, 'the interrupted version is listed');
    assert.equal(version.valid, false, 'and is not valid');
    const shown = json<{ blocks: { uid: string | null }[] }>(await cli([...home, 'show', version.uid, '--blocks']));
    const referenced = shown.blocks.flatMap((b) => (b.uid ? [b.uid] : []));
    const stored = new Set(await files());
    for (const uid of referenced) assert.ok(stored.has(uid), `committed block refers to blob ${uid}, which is in the store`);
    assert.deepEqual(
      [...stored].filter((f) => f.startsWith('.tmp-')),
      [],
      'no partial blob file is left holding space',
    );

    await run('mount', ['-o', 'remount,size=256m', blobs]);
    const continued = await cli([...home, 'backup', dir.url('disk.img'), 'vm-full', '--continue', version.uid], undefined, env);
    assert.equal(continued.code, 0, continued.stderr);
    assert.equal(json<{ version: { uid: string; valid: boolean } }>(continued).version.valid, true);

    const restored = await cli([...home, 'restore', version.uid, dir.url('out.img')]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await dir.read('out.img'), image, 'the continued version restores byte for byte');
    const scrubbed = await cli([...home, 'deep-scrub', version.uid]);
    assert.equal(scrubbed.code, 0, scrubbed.stderr);
  },
);
