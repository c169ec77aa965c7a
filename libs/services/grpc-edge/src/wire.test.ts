import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeWithBytes, fillBytesMessage } from './wire.ts';

/** A minimal protobuf reader for the test: field number -> values (varints as numbers, length-delimited as Buffers). */
function decode(buf: Buffer): Map<number, (number | Buffer)[]> {
  const out = new Map<number, (number | Buffer)[]>();
  let at = 0;
  const varint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = buf[at++]!;
      n += (b & 0x7f) * mul;
      if (b < 128) return n;
      mul *= 128;
    }
  };
  while (at < buf.length) {
    const key = varint();
    const [no, type] = [Math.floor(key / 8), key % 8];
    const value =
      type === 0
        ? varint()
        : (() => {
            const len = varint();
            const v = buf.subarray(at, at + len);
            at += len;
            return v;
          })();
    out.set(no, [...(out.get(no) ?? []), value]);
  }
  return out;
}

describe('wire encoding of block messages', () => {
  it('writes small fields, omits zero values, and puts the bytes last', () => {
    const data = randomBytes(300_000);
    const msg = decode(
      encodeWithBytes(
        [
          { no: 1, type: 'uint64', value: 2 ** 40 + 3 },
          { no: 3, type: 'string', value: 'keyé' },
          { no: 4, type: 'bool', value: true },
          { no: 5, type: 'uint32', value: 0 },
          { no: 6, type: 'string', value: '' },
        ],
        2,
        data,
      ),
    );
    assert.deepEqual(msg.get(1), [2 ** 40 + 3]);
    assert.deepEqual(msg.get(3), [Buffer.from('keyé')]);
    assert.deepEqual(msg.get(4), [1]);
    assert.equal(msg.has(5), false);
    assert.equal(msg.has(6), false);
    assert.ok((msg.get(2)![0] as Buffer).equals(data));
    assert.equal(encodeWithBytes([], 2, Buffer.alloc(0)).length, 0, 'an empty message is empty');
  });

  it('fills a bytes message in place, also when fewer bytes come than asked for', async () => {
    const data = randomBytes(200);
    for (const got of [200, 100, 127, 128, 0]) {
      const msg = await fillBytesMessage(2, 200, async (into) => {
        assert.equal(into.length, 200);
        data.copy(into, 0, 0, got);
        return got;
      });
      const fields = decode(msg);
      if (got === 0) assert.equal(msg.length, 0);
      else assert.ok((fields.get(2)![0] as Buffer).equals(data.subarray(0, got)), `got ${got}`);
    }
  });
});
