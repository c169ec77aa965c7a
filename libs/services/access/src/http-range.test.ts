/** The HTTP range endpoint against an export held in memory (a unit-test fake for a version). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DamagedBlocksError, type Version } from '@blockvault/core';
import { digestToken, type TokenGrant } from '@blockvault/grpc-edge';
import { HttpRangeServer, parseRange } from './http-range.ts';
import type { ExportCatalog } from './nbd-server.ts';

const SIZE = 10 * 1024 * 1024 + 5;
const DATA = randomBytes(SIZE);
const DAMAGED = 8 * 1024 * 1024;
const catalog: ExportCatalog = {
  list: async () => [],
  open: async (name) =>
    name === 'v1' || name === 'v2'
      ? {
          description: 'vm',
          reader: {
            version: { uid: name, name: 'vm', date: new Date('2026-01-02T03:04:05Z') } as Version,
            sizeBytes: SIZE,
            read: async (offset, length) => {
              // v2 has one damaged block, at 8 MiB.
              if (name === 'v2' && offset <= DAMAGED && offset + length > DAMAGED)
                throw new DamagedBlocksError('block 128 is damaged', [128]);
              return Buffer.from(DATA.subarray(offset, offset + length));
            },
          },
        }
      : undefined,
};
const grant = (name: string, permissions: TokenGrant['permissions']): TokenGrant => ({ name, sha256: digestToken(name), permissions });
const TOKENS = [grant('reader-token', new Set(['read'])), grant('none-token', new Set())];

let server: HttpRangeServer;
let base: string;
before(async () => {
  server = new HttpRangeServer({ exports: catalog, tokens: TOKENS });
  const a = await server.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${a.port}/v1/versions`;
});
after(() => server.close());

const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> =>
  fetch(`${base}${path}`, { method, headers: { authorization: 'Bearer reader-token', ...headers } });

describe('HTTP range endpoint', () => {
  it('parses single byte ranges as RFC 9110 says, and leaves others to a whole answer', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=5-', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRange('bytes=8-100', 10), { start: 8, end: 9 });
    assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,4-5', 10), undefined);
    assert.equal(parseRange('items=0-1', 10), undefined);
    assert.equal(parseRange(undefined, 10), undefined);
  });

  it('serves the first, a middle and the last byte, a range across blocks, the whole image and HEAD; past the end is 416', async () => {
    for (const [range, start, end] of [
      ['bytes=0-0', 0, 0],
      ['bytes=5000000-5000099', 5000000, 5000099],
      [`bytes=${SIZE - 1}-`, SIZE - 1, SIZE - 1],
      ['bytes=4194000-8389000', 4194000, 8389000],
    ] as const) {
      const r = await get('/v1/raw', { range });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${SIZE}`);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), DATA.subarray(start, end + 1), range);
    }
    const whole = await get('/v1/raw');
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.equal(whole.headers.get('etag'), '"v1"');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), DATA);
    const head = await get('/v1/raw', {}, 'HEAD');
    assert.equal(head.headers.get('content-length'), String(SIZE));
    const past = await get('/v1/raw', { range: `bytes=${SIZE}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${SIZE}`);
    assert.equal((await get('/nope/raw')).status, 404);
  });

  it('refuses a request without a token (401), with an unknown one (401) and with one lacking read (403)', async () => {
    const none = await fetch(`${base}/v1/raw`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await get('/v1/raw', { authorization: 'Bearer wrong' })).status, 401);
    const denied = await get('/v1/raw', { authorization: 'Bearer none-token' });
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /lacks the read permission/);
  });

  it('a range over a damaged block is a 500 naming the damage; a whole image breaks off where the damage is, never with wrong bytes', async () => {
    const damaged = await get('/v2/raw', { range: `bytes=${DAMAGED}-${DAMAGED + 4095}` });
    assert.equal(damaged.status, 500);
    assert.match(await damaged.text(), /damaged blocks in this range: block 128 is damaged/);
    const whole = await get('/v2/raw');
    assert.equal(whole.status, 200);
    await assert.rejects(whole.arrayBuffer(), 'the body is cut short');
    const before = await get('/v2/raw', { range: `bytes=0-${DAMAGED - 1}` });
    assert.deepEqual(Buffer.from(await before.arrayBuffer()), DATA.subarray(0, DAMAGED));
  });

  it('with a base path, serves only under it (a private endpoint for a client without tokens)', async () => {
    const hidden = new HttpRangeServer({ exports: catalog, basePath: '/live-secret' });
    const a = await hidden.listen('127.0.0.1', 0);
    try {
      const at = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${a.port}${path}`, { headers: { range: 'bytes=0-9' } });
      const r = await at('/live-secret/v1/versions/v1/raw');
      assert.equal(r.status, 206);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), DATA.subarray(0, 10));
      assert.equal((await at('/v1/versions/v1/raw')).status, 404);
      assert.equal((await at('/live-secretX/v1/versions/v1/raw')).status, 404);
    } finally {
      await hidden.close();
    }
  });
});
