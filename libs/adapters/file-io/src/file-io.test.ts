import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
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
