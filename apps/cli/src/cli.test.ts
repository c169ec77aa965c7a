/** The `blockvault` binary, run as a user runs it: a child process, its stdout, stderr and exit code. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { buildImage, overwrite, tempDir, type TempDir } from '@blockvault/testing';
import { assertUserError, BLOCKVAULT_BIN, cli as runCli, json, type Run } from '@blockvault/testing';

const BS = 4 * 1024 * 1024;
const cli = (...args: string[]): Promise<Run> => runCli(args);

interface VersionJson {
  uid: string;
  name: string;
  snapshotName: string;
  date: string;
  size: number;
  sizeBytes: number;
  valid: boolean;
  protected: boolean;
  tags: string[];
  expire: string | null;
}

describe('blockvault CLI', () => {
  let dir: TempDir;
  let home: string;
  let image: Buffer;
  let v1: VersionJson;

  before(async () => {
    dir = await tempDir();
    home = dir.file('home');
    image = buildImage(['r', 'z', 0, 'r'], BS, 4321);
    await writeFile(dir.file('vm1.img'), image);
    const out = json<{ version: VersionJson; stats: Record<string, number> }>(
      await cli('--home', home, '--json', 'backup', dir.url('vm1.img'), 'vm1', '--snapshot', 'mon'),
    );
    v1 = out.version;
    assert.deepEqual(
      Object.keys(out.stats).sort(),
      [
        'blocksChecked',
        'blocksDedup',
        'blocksRead',
        'blocksSparse',
        'blocksWritten',
        'bytesChecked',
        'bytesDedup',
        'bytesRead',
        'bytesSparse',
        'bytesWritten',
        'durationSeconds',
      ].sort(),
    );
    assert.deepEqual({ w: out.stats['blocksWritten'], d: out.stats['blocksDedup'], s: out.stats['blocksSparse'] }, { w: 3, d: 1, s: 1 });
  });
  after(() => dir.remove());

  it('backup --json prints the version with camelCase fields', () => {
    assert.deepEqual(
      Object.keys(v1).sort(),
      ['date', 'expire', 'name', 'protected', 'sizeBytes', 'size', 'snapshotName', 'tags', 'uid', 'valid'].sort(),
    );
    assert.equal(v1.sizeBytes, image.length);
    assert.equal(v1.size, 5);
    assert.equal(v1.snapshotName, 'mon');
    assert.equal(v1.valid, true);
  });

  it('restores byte for byte, with global options after the command and options before positionals', async () => {
    const run = await cli('restore', '--sparse', v1.uid, dir.url('out.img'), '--home', home, '--json');
    const out = json<{ damagedBlocks: number[]; version: VersionJson }>(run);
    assert.deepEqual(out.damagedBlocks, []);
    assert.deepEqual(await dir.read('out.img'), image);
  });

  it('ls --json lists versions; show --json lists blocks, sparse ones without uid and checksum', async () => {
    const listed = json<VersionJson[]>(await cli('ls', 'vm1', '--json', '--home', home));
    assert.deepEqual(
      listed.map((v) => v.uid),
      [v1.uid],
    );
    const shown = json<
      VersionJson & { blocks: { id: number; uid: string | null; checksum: string | null; size: number; valid: boolean }[] }
    >(await cli('--json', '--home', home, 'show', v1.uid, '--blocks'));
    assert.equal(shown.uid, v1.uid);
    assert.equal(shown.blocks.length, 5);
    assert.deepEqual(shown.blocks[1], { id: 1, uid: null, checksum: null, size: BS, valid: true });
    assert.equal(shown.blocks[2]?.uid, shown.blocks[0]?.uid, 'the duplicate block references the same blob');
    assert.equal(shown.blocks[4]?.size, 4321);
  });

  it('prints human tables without --json', async () => {
    const run = await cli('--home', home, 'ls');
    assert.equal(run.code, 0);
    assert.match(run.stdout, new RegExp(`^${v1.uid.slice(0, 8)}  vm1 `, 'm'), 'the uid as every command takes it: its first 8 characters');
  });

  it('tags, protects, expires and removes through the CLI', async () => {
    const img = dir.file('vm2.img');
    await writeFile(img, buildImage(['r'], BS));
    const v = json<{ version: VersionJson }>(
      await cli('--home', home, '--json', 'backup', `file://${img}`, 'vm2', '--tag', 'a', '--tag', 'b', '--expire', '2030-01-01'),
    ).version;
    assert.deepEqual(v.tags, ['a', 'b']);
    assert.equal(v.expire, '2030-01-01T00:00:00.000Z');
    assert.deepEqual(json<VersionJson>(await cli('--home', home, '--json', 'tag', 'add', v.uid, 'c')).tags, ['a', 'b', 'c']);
    assert.deepEqual(json<VersionJson>(await cli('--home', home, '--json', 'tag', 'rm', v.uid, 'a')).tags, ['b', 'c']);
    assert.equal(json<VersionJson>(await cli('--home', home, '--json', 'expire', v.uid, 'never')).expire, null);
    assert.equal(json<VersionJson>(await cli('--home', home, '--json', 'protect', v.uid)).protected, true);
    assertUserError(await cli('--home', home, 'rm', v.uid), 4, /protected/);
    assertUserError(await cli('--home', home, 'protect', v.uid), 4, /already protected/);
    await cli('--home', home, 'unprotect', v.uid);
    assert.equal((await cli('--home', home, 'rm', v.uid)).code, 0);
    assertUserError(await cli('--home', home, 'show', v.uid), 3, /not found/);
  });

  it('exit 2 for a malformed URL, an unsupported scheme, bad hints and unknown options', async () => {
    assertUserError(await cli('--home', home, 'backup', 'not a url', 'vm1'), 2, /not a URL/);
    assertUserError(await cli('--home', home, 'backup', 'nfs://host/x', 'vm1'), 2, /scheme nfs: is not supported; use file:\/\//);
    assertUserError(await cli('--home', home, 'backup', `${dir.url('vm1.img')}?x=1`, 'vm1'), 2, /query/);
    await writeFile(dir.file('past.json'), JSON.stringify([{ offset: 0, length: image.length + 1, exists: 'true' }]));
    assertUserError(await cli('--home', home, 'backup', dir.url('vm1.img'), 'vm1', '--hints', dir.file('past.json')), 2, /past the end/);
    await writeFile(dir.file('bad.json'), '[{"offset": 0,');
    assertUserError(await cli('--home', home, 'backup', dir.url('vm1.img'), 'vm1', '--hints', dir.file('bad.json')), 2, /not valid JSON/);
    assertUserError(await cli('--home', home, 'backup', '--frobnicate'), 2, /unknown option/);
  });

  it('exit 3 for a missing version or source, exit 4 for an existing target (left untouched)', async () => {
    assertUserError(await cli('--home', home, 'restore', 'no-such-version', dir.url('x.img')), 3, /version no-such-version not found/);
    assertUserError(await cli('--home', home, 'backup', dir.url('missing.img'), 'vm1'), 3, /does not exist/);
    await writeFile(dir.file('taken.img'), 'keep');
    assertUserError(await cli('--home', home, 'restore', v1.uid, dir.url('taken.img')), 4, /--force/);
    assert.equal((await dir.read('taken.img')).toString(), 'keep');
  });

  it('exit 5 when the sanity check finds the hints wrong, and the new version is gone', async () => {
    const src = dir.file('drift.img');
    await writeFile(src, buildImage(Array(12).fill('r'), BS));
    const base = json<{ version: VersionJson }>(await cli('--home', home, '--json', 'backup', `file://${src}`, 'drift')).version;
    await overwrite(src, 5 * BS, buildImage(['r'], BS));
    await overwrite(src, 0, buildImage(['r'], BS));
    await writeFile(dir.file('hints.json'), JSON.stringify([{ offset: 0, length: BS, exists: 'true' }], null, 2));
    // The first five untouched blocks (1-5) are always checked, so the change at block 5 is seen.
    assertUserError(
      await cli('--home', home, 'backup', `file://${src}`, 'drift', '--from', base.uid, '--hints', dir.file('hints.json')),
      5,
      /differ outside the hints/,
    );
    assert.deepEqual(
      json<VersionJson[]>(await cli('--home', home, '--json', 'ls', 'drift')).map((v) => v.uid),
      [base.uid],
    );
  });

  it('exit 5 when a restore finds a damaged block; the restore still completes', async () => {
    const shown = json<{ blocks: { uid: string | null }[] }>(await cli('--home', home, '--json', 'show', v1.uid, '--blocks'));
    const uid = shown.blocks[3]!.uid!;
    const blob = dir.file(`home/blobs/${uid.slice(0, 2)}/${uid.slice(2, 4)}/${uid}`);
    await overwrite(blob, 100, Buffer.from('rot'));
    const run = await cli('--home', home, '--json', 'restore', v1.uid, dir.url('damaged.img'));
    assertUserError(run, 5, /1 damaged block\(s\) \[3\]/);
    assert.deepEqual((JSON.parse(run.stdout) as { damagedBlocks: number[] }).damagedBlocks, [3]);
    assert.equal((await dir.read('damaged.img')).length, image.length);
    assert.equal(json<VersionJson>(await cli('--home', home, '--json', 'show', v1.uid)).valid, false);
  });

  it('--help lists the commands and the exit codes', async () => {
    const run = await cli('--help');
    assert.equal(run.code, 0);
    for (const c of ['backup', 'restore', 'ls', 'show', 'stats', 'du', 'rm', 'protect', 'unprotect', 'tag', 'expire'])
      assert.match(run.stdout, new RegExp(`\\n  ${c}\\b`));
    assert.match(run.stdout, /Exit codes:/);
  });
});

describe('blockvault CLI in a pipeline', () => {
  it('stops quietly, exit 0, when its reader has closed the pipe (blockvault --help | true)', async () => {
    const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Like `| true` or a `head` that is already done: the pipe is closed before the CLI writes.
    child.stdout.destroy();
    const code = await new Promise<number | null>((done) => child.once('close', done));
    assert.equal(code, 0);
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
  });
});
