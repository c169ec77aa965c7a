import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { NotFoundError, SourceNotFoundError, TargetExistsError, UnsupportedUrlError } from '@blockvault/core';
import { tempDir } from '@blockvault/testing';
import { FileIo } from './file-io.ts';

const dir = await tempDir();
after(() => dir.remove());
const io = new FileIo();
const target = { force: false, resume: false, sizeBytes: 10 };

describe('file:// I/O', () => {
  it('reads a source by offset and reports its size; a short read at the end returns what is there', async () => {
    await writeFile(dir.file('src.img'), Buffer.from('0123456789'));
    const src = await io.openSource(new URL(dir.url('src.img')));
    assert.equal(src.sizeBytes, 10);
    const buf = Buffer.alloc(8);
    assert.equal(await src.read(6, 8, buf), 4);
    assert.equal(buf.subarray(0, 4).toString(), '6789');
    await src.close();
  });

  it('refuses file URLs with a host, directories, and missing sources', async () => {
    await assert.rejects(io.openSource(new URL(`file://otherhost${dir.file('src.img')}`)), UnsupportedUrlError);
    await mkdir(dir.file('sub'));
    await assert.rejects(io.openSource(new URL(dir.url('sub'))), /directory/);
    await assert.rejects(io.openSource(new URL(dir.url('missing.img'))), SourceNotFoundError);
  });

  it('creates a new target, refuses an existing one without force, and truncates it with force', async () => {
    const t = await io.openTarget(new URL(dir.url('t.img')), target);
    await t.write(2, Buffer.from('ab'));
    await t.finish(10);
    await t.close();
    assert.deepEqual(await dir.read('t.img'), Buffer.from('\0\0ab\0\0\0\0\0\0', 'latin1'));
    await assert.rejects(io.openTarget(new URL(dir.url('t.img')), target), TargetExistsError);
    const forced = await io.openTarget(new URL(dir.url('t.img')), { ...target, force: true });
    await forced.finish(3);
    await forced.close();
    assert.deepEqual(await dir.read('t.img'), Buffer.alloc(3));
  });

  it('leaves zero ranges of a target it emptied as holes, and writes them where the file keeps older bytes', async () => {
    const mib = 1024 * 1024;
    const data = Buffer.alloc(mib, 'x');
    // A fresh file (and one overwritten with force): zeros cost no write, the file reads them back.
    await writeFile(dir.file('z.img'), Buffer.alloc(4 * mib, 'o'));
    const forced = await io.openTarget(new URL(dir.url('z.img')), { ...target, force: true });
    await forced.zero!(0, 3 * mib);
    await forced.write(3 * mib, data);
    await forced.finish(4 * mib);
    await forced.close();
    assert.deepEqual(await dir.read('z.img'), Buffer.concat([Buffer.alloc(3 * mib), data]));
    assert.ok((await stat(dir.file('z.img'))).blocks * 512 <= 2 * mib, 'the zero range is not allocated');
    // A continued restore keeps the file's bytes: zeros overwrite what was there.
    const resumed = await io.openTarget(new URL(dir.url('z.img')), { ...target, resume: true });
    await resumed.zero!(3 * mib, mib);
    await resumed.finish(4 * mib);
    await resumed.close();
    assert.deepEqual(await dir.read('z.img'), Buffer.alloc(4 * mib));
  });

  it('writes aligned blocks past the page cache and unaligned ones through it, into the same exact bytes', async () => {
    const MiB = 1024 * 1024;
    // Two aligned blocks (written with O_DIRECT where the file system allows), one at an unaligned
    // offset and a short tail (through the page cache), over an older file's bytes.
    const blocks = [randomBytes(MiB), randomBytes(MiB), randomBytes(300_000), randomBytes(1000)];
    const offsets = [MiB, 0, 2 * MiB + 7, 2 * MiB + 7 + 300_000];
    const size = offsets[3]! + 1000;
    const expected = Buffer.alloc(size);
    blocks.forEach((b, i) => b.copy(expected, offsets[i]));
    await writeFile(dir.file('direct.img'), Buffer.alloc(size + MiB, 0xee));
    const t = await io.openTarget(new URL(dir.url('direct.img')), { force: true, resume: false, sizeBytes: size });
    await Promise.all(blocks.map((b, i) => t.write(offsets[i]!, b)));
    // The engine frees a block once its write resolved: the file must hold its bytes by then.
    for (const b of blocks) b.fill(0);
    assert.ok(t.zero);
    await t.zero(2 * MiB, 7);
    await t.finish(size);
    await t.close();
    assert.deepEqual(await readFile(dir.file('direct.img')), expected);
  });

  it('resumes only into an existing target, keeping what it holds', async () => {
    await assert.rejects(io.openTarget(new URL(dir.url('none.img')), { ...target, resume: true }), NotFoundError);
    await writeFile(dir.file('r.img'), 'keep');
    const t = await io.openTarget(new URL(dir.url('r.img')), { ...target, resume: true });
    await t.write(4, Buffer.from('!'));
    await t.finish(5);
    await t.close();
    assert.equal((await dir.read('r.img')).toString(), 'keep!');
  });
});
