/** The reader service in front of file:// I/O, through its client. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, IoRegistry, isBlockvaultError } from '@blockvault/core';
import { FileIo } from '@blockvault/adapter-file-io';
import { tempDir, type TempDir } from '@blockvault/testing';
import { RemoteIo } from './client.ts';
import { serveReader, type ReaderServer } from './server.ts';

let dir: TempDir;
let server: ReaderServer;
let io: RemoteIo;
before(async () => {
  dir = await tempDir();
  server = await serveReader(new IoRegistry([new FileIo()]), '127.0.0.1:0');
  io = new RemoteIo('file', `127.0.0.1:${server.port}`);
});
after(async () => {
  await server.stop();
  await dir.remove();
});

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (isBlockvaultError(e) ? e.code : String(e)),
  );

describe('reader service', () => {
  it('reads a source at offsets, several requests in flight, answered in order', async () => {
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    await writeFile(dir.file('src.img'), data);
    const src = await io.openSource(new URL(dir.url('src.img')));
    assert.equal(src.sizeBytes, data.length);
    const bufs = [Buffer.alloc(1000), Buffer.alloc(1000), Buffer.alloc(1000)];
    const got = await Promise.all([src.read(0, 1000, bufs[0]!), src.read(50_000, 1000, bufs[1]!), src.read(99_500, 1000, bufs[2]!)]);
    assert.deepEqual(got, [1000, 1000, 500]);
    assert.deepEqual(bufs[1], data.subarray(50_000, 51_000));
    assert.deepEqual(bufs[2]!.subarray(0, 500), data.subarray(99_500));
    await src.close();
  });

  it('writes a target and finishes it at its exact size; refuses an existing one without force', async () => {
    const t = await io.openTarget(new URL(dir.url('out.img')), { force: false, resume: false, sizeBytes: 10 });
    await t.write(2, Buffer.from('abc'));
    await t.finish(10);
    await t.close();
    const { readFile } = await import('node:fs/promises');
    assert.deepEqual(await readFile(dir.file('out.img')), Buffer.from('\0\0abc\0\0\0\0\0', 'latin1'));
    assert.equal(
      await codeOf(io.openTarget(new URL(dir.url('out.img')), { force: false, resume: false, sizeBytes: 10 })),
      ErrorCode.AlreadyExists,
    );
  });

  it('checks URLs against its I/O roots for the caller, before any I/O', async () => {
    const confined = await serveReader(new IoRegistry([new FileIo({ roots: [dir.file('allowed')] })]), '127.0.0.1:0');
    const remote = new RemoteIo('file', `127.0.0.1:${confined.port}`);
    try {
      await remote.check(new URL(dir.url('allowed/disk.img')));
      assert.equal(await codeOf(remote.check(new URL(dir.url('elsewhere/disk.img')))), ErrorCode.PermissionDenied);
      assert.equal(await codeOf(remote.openSource(new URL(dir.url('src.img')))), ErrorCode.PermissionDenied, 'open checks too');
    } finally {
      await confined.stop();
    }
  });

  it('answers a missing source with NOT_FOUND and a bad URL with INVALID_ARGUMENT', async () => {
    assert.equal(await codeOf(io.openSource(new URL(dir.url('missing.img')))), ErrorCode.NotFound);
    assert.equal(await codeOf(io.openSource(new URL('file://host/x'))), ErrorCode.InvalidArgument);
  });
});
