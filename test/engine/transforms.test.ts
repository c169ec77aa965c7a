/**
 * Compression and encryption end to end through the CLI: no plaintext in the store, byte-identical
 * restores, dedup intact, tampering found and marked without aborting, a missing key reported
 * without marking anything, and rotation with `key new` + `rekey`.
 */
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage, cli, json, tempDir, type TempDir } from '@blockvault/testing';

const BS = 64 * 1024;

async function blobFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const a of await readdir(root)) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue;
    for (const b of await readdir(join(root, a))) for (const f of await readdir(join(root, a, b))) out.push(join(root, a, b, f));
  }
  return out;
}

async function setup(): Promise<{
  dir: TempDir;
  env: NodeJS.ProcessEnv;
  run: (args: string[], env?: NodeJS.ProcessEnv) => ReturnType<typeof cli>;
  image: Buffer;
}> {
  const dir = await tempDir();
  const keyFile = dir.file('master.keys');
  const env = { BLOCKVAULT_COMPRESSION: 'zstd', BLOCKVAULT_ENCRYPTION_KEY_FILE: keyFile };
  const run = (args: string[], e: NodeJS.ProcessEnv = env) => cli(['--json', '--home', dir.file('home'), ...args], undefined, e);
  assert.equal((await cli(['key', 'new', keyFile, '--id', 'k1'])).code, 0);
  assert.equal((await run(['init', '--block-size', String(BS), '--blocks-per-segment', '4'])).code, 0);
  // Distinct random blocks, a compressible one (text), a zero block and a repeat.
  const text = Buffer.alloc(BS, 'the quick brown fox jumps over the lazy dog. ');
  const image = buildImage(['r', text, 'z', 'r', 0, text], BS);
  await writeFile(dir.file('a.img'), image);
  return { dir, env, run, image };
}

describe('blob transforms (zstd + AES-256-GCM) through the CLI', () => {
  it('stores no plaintext, restores byte for byte, deduplicates, and deep-scrubs clean', async () => {
    const { dir, run, image } = await setup();
    const backup = await run(['backup', dir.url('a.img'), 'vm1']);
    assert.equal(backup.code, 0, backup.stderr);
    const { version, stats } = json<{
      version: { uid: string };
      stats: { blocksWritten: number; blocksDedup: number; blocksSparse: number };
    }>(backup);
    assert.deepEqual([stats.blocksWritten, stats.blocksDedup, stats.blocksSparse], [3, 2, 1]);
    const files = await blobFiles(dir.file('home/blobs'));
    assert.equal(files.length, 3);
    for (const f of files) {
      const bytes = await readFile(f);
      assert.ok(!bytes.includes(Buffer.from('quick brown fox')), `${f} holds plaintext`);
      assert.ok(!bytes.includes(image.subarray(0, 32)), `${f} holds plaintext`);
    }
    const sizes = await Promise.all(files.map(async (f) => (await readFile(f)).length));
    assert.ok(Math.min(...sizes) < BS / 10, 'the text block was compressed before encryption');
    assert.equal(
      json<{ stats: { blocksWritten: number } }>(await run(['backup', dir.url('a.img'), 'vm1'])).stats.blocksWritten,
      0,
      'dedup over plaintext checksums',
    );
    assert.equal((await run(['restore', version.uid, dir.url('out.img')])).code, 0);
    assert.deepEqual(await dir.read('out.img'), image);
    const scrub = await run(['deep-scrub', version.uid]);
    assert.equal(scrub.code, 0, scrub.stderr);
    await dir.remove();
  });

  it('finds a tampered blob, marks it invalid and restores the rest; a missing key marks nothing', async () => {
    const { dir, env, run, image } = await setup();
    const { version } = json<{ version: { uid: string } }>(await run(['backup', dir.url('a.img'), 'vm1']));
    const noKey = await run(['restore', version.uid, dir.url('nokey.img')], {});
    assert.equal(noKey.code, 8, noKey.stderr);
    assert.match(noKey.stderr, /encrypted: configure the repository's master key/);
    const [listed] = json<{ valid: boolean }[]>(await run(['ls', 'vm1'], {}));
    assert.equal(listed!.valid, true, 'a missing key is not damage');
    const goneFile = await run(['ls', 'vm1'], { ...env, BLOCKVAULT_ENCRYPTION_KEY_FILE: dir.file('no-such-key-file') });
    assert.equal(goneFile.code, 8, goneFile.stderr);
    assert.match(goneFile.stderr, /BLOCKVAULT_ENCRYPTION_KEY_FILE .*no-such-key-file does not exist/);
    const [victim] = await blobFiles(dir.file('home/blobs'));
    const bytes = await readFile(victim!);
    bytes[bytes.length - 3]! ^= 0x40;
    await writeFile(victim!, bytes);
    const scrub = await run(['deep-scrub', version.uid]);
    assert.equal(scrub.code, 5, scrub.stderr);
    const restore = await run(['restore', version.uid, dir.url('out.img')]);
    assert.equal(restore.code, 5, 'restore finishes and reports the damage');
    const restored = await dir.read('out.img');
    assert.equal(restored.length, image.length);
    const good = [0, 1, 2, 3, 4, 5].filter((i) => restored.subarray(i * BS, (i + 1) * BS).equals(image.subarray(i * BS, (i + 1) * BS)));
    assert.ok(good.length >= 4, `undamaged blocks restored: ${good.join(',')}`);
    assert.equal(json<{ valid: boolean }[]>(await run(['ls', 'vm1'], env))[0]!.valid, false);
    await dir.remove();
  });

  it('rotates the master key: key new + rekey, then the old key can go', async () => {
    const { dir, env, run, image } = await setup();
    const { version } = json<{ version: { uid: string } }>(await run(['backup', dir.url('a.img'), 'vm1']));
    const keyFile = env['BLOCKVAULT_ENCRYPTION_KEY_FILE']!;
    assert.equal((await cli(['key', 'new', keyFile, '--id', 'k2'])).code, 0);
    const rekey = await run(['rekey']);
    assert.equal(rekey.code, 0, rekey.stderr);
    assert.deepEqual(json<{ masterKey: string; rewrapped: string[] }>(rekey).rewrapped.length, 1);
    const lines = (await readFile(keyFile, 'utf8')).split('\n').filter((l) => l.startsWith('k2 '));
    await writeFile(keyFile, `${lines[0]}\n`, { mode: 0o600 });
    assert.equal((await run(['restore', version.uid, dir.url('out.img')])).code, 0);
    assert.deepEqual(await dir.read('out.img'), image);
    await chmod(keyFile, 0o644);
    const loose = await run(['ls']);
    assert.equal(loose.code, 2);
    assert.match(loose.stderr, /readable by group or others/);
    assert.ok(!loose.stderr.includes(lines[0]!.split(' ')[1]!), 'the key never appears in messages');
    await dir.remove();
  });
});
