/** Scrubs, cleanup, retention, schedules, export/import and recovery through the real binary. */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { buildImage, overwrite, tempDir, type TempDir } from '@blockvault/testing';
import { assertUserError, cli, json } from '@blockvault/testing';

const BS = 4 * 1024 * 1024;

describe('blockvault maintenance commands', () => {
  let dir: TempDir;
  let home: string;
  let image: Buffer;
  const run = (...args: string[]) => cli(['--home', home, ...args]);
  const backup = async (name: string, ...extra: string[]): Promise<string> =>
    json<{ version: { uid: string } }>(await run('--json', 'backup', dir.url('vm.img'), name, ...extra)).version.uid;

  before(async () => {
    dir = await tempDir();
    home = dir.file('home');
    image = buildImage(['r', 'z', 'r'], BS, 100);
    await writeFile(dir.file('vm.img'), image);
  });
  after(() => dir.remove());

  it('scrub and deep-scrub exit 0 on a clean version and 5 on damage', async () => {
    const uid = await backup('scrubbed');
    assert.equal(json<{ valid: boolean }>(await run('--json', 'scrub', uid)).valid, true);
    assert.equal(json<{ valid: boolean }>(await run('--json', 'deep-scrub', uid, '--source', dir.url('vm.img'))).valid, true);
    const blocks = json<{ blocks: { uid: string | null }[] }>(await run('--json', 'show', uid, '--blocks')).blocks;
    const blob = blocks[2]!.uid!;
    await overwrite(dir.file(`home/blobs/${blob.slice(0, 2)}/${blob.slice(2, 4)}/${blob}`), 999, Buffer.from('rot'));
    assert.equal((await run('scrub', uid)).code, 0, 'the size is right: a light scrub cannot see it');
    const deep = await run('--json', 'deep-scrub', uid);
    assertUserError(deep, 5, /damaged block\(s\) \[2\]/);
    assert.deepEqual((JSON.parse(deep.stdout) as { damagedBlocks: number[] }).damagedBlocks, [2]);
    assertUserError(await run('scrub', 'no-such-version'), 3, /not found/);
    assertUserError(await run('scrub', uid, '--percent', '0'), 2, /percentage/);
    await run('rm', uid);
  });

  it('an incomplete version is called incomplete by show, du and scrub (exit 4), never damaged or sparse', async () => {
    await writeFile(dir.file('vm.img'), buildImage(['r', 'r', 'r'], BS, 101));
    const uid = await backup('unfinished');
    // What an interrupted backup leaves: a version without its segment pointers.
    const raw = new DatabaseSync(dir.file('home/metadata.sqlite'));
    raw.prepare('DELETE FROM version_segments WHERE version_uid = ?').run(uid);
    raw.prepare('UPDATE versions SET valid = 0 WHERE uid = ?').run(uid);
    raw.close();
    const scrubbed = await run('scrub', uid);
    assertUserError(scrubbed, 4, /incomplete: not damaged/);
    assert.doesNotMatch(scrubbed.stderr, /found damage/);
    assert.match((await run('show', uid)).stdout, /INCOMPLETE: 0 of \d+ blocks recorded; its backup did not finish/);
    const du = await run('du', uid);
    assert.match(du.stdout, /INCOMPLETE/);
    const [usage] = json<{ complete: boolean; sparseBytes: number }[]>(await run('--json', 'du', uid));
    assert.deepEqual([usage?.complete, usage?.sparseBytes], [false, 0]);
    await run('rm', uid);
  });

  it('batch-deep-scrub scrubs many versions; cleanup reclaims what rm forgot', async () => {
    await writeFile(dir.file('vm.img'), buildImage(['r', 'r'], BS));
    const a = await backup('batch');
    await backup('batch');
    const results = json<{ uid: string; valid: boolean }[]>(await run('--json', 'batch-deep-scrub', 'batch'));
    assert.equal(results.length, 2);
    assert.ok(results.every((r) => r.valid));
    assert.ok(
      json<{ blobsDeleted: number }>(await run('--json', 'cleanup', '--grace', '0')).blobsDeleted > 0,
      'the earlier removed version left garbage',
    );
    await run('rm', a);
    const kept = json<{ blobsDeleted: number }>(await run('--json', 'cleanup', '--grace', '0'));
    assert.equal(kept.blobsDeleted, 0, 'the other version still uses both blobs');
  });

  it('enforce --dry-run lists decisions with reasons; enforce removes', async () => {
    await writeFile(dir.file('vm.img'), buildImage(['r'], BS));
    const uids = [await backup('ret'), await backup('ret'), await backup('ret')];
    const dry = json<{ version: { uid: string }; keep: boolean; reasons: string[] }[]>(
      await run('--json', 'enforce', 'latest1', 'ret', '--dry-run'),
    );
    assert.deepEqual(
      dry.filter((d) => d.keep).map((d) => d.version.uid),
      [uids[2]],
    );
    assert.deepEqual(dry.find((d) => d.keep)?.reasons, ['latest1 (#1)']);
    assert.equal(json<unknown[]>(await run('--json', 'ls', 'ret')).length, 3);
    json(await run('--json', 'enforce', 'latest1', 'ret'));
    assert.deepEqual(
      json<{ uid: string }[]>(await run('--json', 'ls', 'ret')).map((v) => v.uid),
      [uids[2]],
    );
    assertUserError(await run('enforce', 'latest1,eons3'), 2, /invalid retention rule/);
    assertUserError(await run('enforce', 'latest1', '--time-zone', 'Mars/Olympus'), 2, /unknown time zone/);
  });

  it('schedule set, due and sla (exit 7 on breaches)', async () => {
    json(await run('--json', 'schedule', 'set', 'sched', 'daily', '--interval', '1d', '--keep', '2', '--sla', '1h'));
    assert.deepEqual(
      json<{ name: string }[]>(await run('--json', 'due')).map((s) => s.name),
      ['sched'],
    );
    await backup('sched', '--tag', 'daily');
    assert.deepEqual(json<unknown[]>(await run('--json', 'due', 'sched')), []);
    const sla = await run('sla');
    assert.equal(sla.code, 7);
    assert.match(sla.stdout, /too few backups: found 1, should be 2/);
    assert.equal(json<unknown[]>(await run('--json', 'schedule', 'ls')).length, 1);
    json(await run('--json', 'schedule', 'rm', 'sched', 'daily'));
    assert.equal((await run('sla')).code, 0);
  });

  it('export to a file and to stdout, import from a file and from stdin', async () => {
    await writeFile(dir.file('vm.img'), image);
    const uid = await backup('port');
    assert.equal((await run('export', uid, dir.file('port.json'))).code, 0);
    assertUserError(await run('export', uid, dir.file('port.json')), 2, /exists/);
    const viaStdout = await run('export', uid, '-');
    assert.equal(viaStdout.code, 0);
    assertUserError(await run('import', dir.file('port.json')), 4, /already exists/);
    await run('rm', uid);
    assert.equal(json<{ uid: string }>(await cli(['--home', home, '--json', 'import', '-'], viaStdout.stdout)).uid, uid);
    await run('rm', uid);
    assert.equal(json<{ uid: string }>(await run('--json', 'import', dir.file('port.json'))).uid, uid);
    assertUserError(await cli(['--home', home, 'import', '-'], '{"kind": "nope"}'), 2, /not a Blockvault version export/);
    await run('restore', uid, dir.url('port.img'));
    assert.deepEqual(await dir.read('port.img'), image);
  });

  it('restore --without-metadata and recover after the metadata database is lost', async () => {
    const uid = await backup('lost');
    for (const f of ['metadata.sqlite', 'metadata.sqlite-wal', 'metadata.sqlite-shm']) await rm(dir.file(`home/${f}`), { force: true });
    assert.equal((await run('restore', uid, dir.url('lost.img'), '--without-metadata')).code, 0);
    assert.deepEqual(await dir.read('lost.img'), image);
    const r = json<{ imported: string[] }>(await run('--json', 'recover'));
    assert.ok(r.imported.includes(uid));
    assert.equal(json<{ valid: boolean }>(await run('--json', 'show', uid)).valid, true);
  });

  it('--override-lock takes a lock another holder has, and says so', async () => {
    const uid = await backup('locked');
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(dir.file('home/metadata.sqlite'));
    db.prepare('INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)').run(
      `version:${uid}`,
      'a backup elsewhere',
      't',
      'other-host',
      1,
      Date.now() + 3_600_000,
    );
    db.close();
    assertUserError(await run('rm', uid), 4, /locked by a backup elsewhere/);
    const forced = await run('rm', uid, '--override-lock');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /warning: --override-lock: taking version:.* from a backup elsewhere/);
  });
});
