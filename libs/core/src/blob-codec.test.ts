import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOB_HEADER_LENGTH } from './blob-format.ts';
import {
  ENCRYPTED_HEADER_LENGTH,
  EncryptionKeyError,
  Keyring,
  KEYS_PREFIX,
  plainCodec,
  TransformCodec,
  worthCompressing,
  type MasterKey,
} from './blob-codec.ts';
import { BlobNotFoundError, IntegrityError } from './errors.ts';
import type { BlobStore } from './ports.ts';

/** A blob store in a Map: enough for the keyring's few documents (a unit-test fake). */
function memoryStore(): BlobStore & { readonly map: Map<string, Buffer> } {
  const map = new Map<string, Buffer>();
  return {
    map,
    put: async (key, chunks) => void map.set(key, Buffer.concat(chunks)),
    get: async (key) => {
      const v = map.get(key);
      if (!v) throw new BlobNotFoundError(key);
      return Buffer.from(v);
    },
    stat: async (key) => (map.has(key) ? { size: map.get(key)!.length } : undefined),
    delete: async (keys) => keys.forEach((k) => map.delete(k)),
    list: async function* (prefix = '') {
      for (const k of [...map.keys()].sort()) if (k.startsWith(prefix)) yield k;
    },
    listWithDates: async function* (prefix = '') {
      for (const k of [...map.keys()].sort()) if (k.startsWith(prefix)) yield { key: k, modified: new Date() };
    },
    close: async () => undefined,
  };
}

const MAX = 1 << 20;
const master = (id: string): MasterKey => ({ id, key: randomBytes(32) });
const compressible = (): Buffer => Buffer.concat([randomBytes(4096), Buffer.alloc(60 * 1024, 'a')]);
const stored = async (codec: TransformCodec, uid: string, data: Buffer): Promise<Buffer> => Buffer.concat(await codec.encode(uid, data));

describe('blob codec', () => {
  it('round-trips a plain blob behind the 16-byte header, and refuses foreign, truncated and unknown-transform blobs', async () => {
    const codec = plainCodec(MAX);
    const data = Buffer.from('block bytes');
    const blob = await stored(codec as TransformCodec, 'u1', data);
    assert.equal(blob.length, BLOB_HEADER_LENGTH + data.length);
    assert.deepEqual(await codec.decode('u1', blob), data);
    await assert.rejects(codec.decode('u1', Buffer.from('not a blob at all')), IntegrityError);
    await assert.rejects(codec.decode('u1', blob.subarray(0, blob.length - 1)), /payload bytes/);
    const flagged = Buffer.from(blob);
    flagged[5] = 4;
    await assert.rejects(codec.decode('u1', flagged), /not supported/);
  });

  it('compresses with zstd only when the block shrinks', async () => {
    const codec = new TransformCodec({ maxBlockSize: MAX, compressionLevel: 3 });
    const data = compressible();
    const blob = await stored(codec, 'u1', data);
    assert.ok(blob.length < data.length / 4, `compressed to ${blob.length}`);
    assert.equal(blob[5], 1, 'zstd flag');
    assert.deepEqual(await plainCodec(MAX).decode('u1', blob), data, 'any codec reads it back');
    const noise = randomBytes(64 * 1024);
    const raw = await stored(codec, 'u2', noise);
    assert.equal(raw[5], 0, 'random data is stored as it is');
    assert.equal(raw.length, BLOB_HEADER_LENGTH + noise.length);
  });

  it('judges a block by samples: random data is not worth compressing, a block with a compressible part anywhere is', () => {
    const block = 1 << 20;
    assert.equal(worthCompressing(randomBytes(block), 1), false, 'random');
    const tail = Buffer.concat([randomBytes((block * 3) / 4), Buffer.alloc(block / 4, 'text ')]);
    assert.equal(worthCompressing(tail, 1), true, 'compressible last quarter');
    const head = Buffer.concat([Buffer.alloc(block / 4, 'text '), randomBytes((block * 3) / 4)]);
    assert.equal(worthCompressing(head, 1), true, 'compressible first quarter');
    assert.equal(worthCompressing(randomBytes(1000), 1), true, 'a small block is simply compressed');
  });

  it('stores a large random block as it is and compresses a large mixed one, both read back by any codec', async () => {
    const block = 1 << 20;
    const codec = new TransformCodec({ maxBlockSize: block, compressionLevel: 1 });
    const noise = randomBytes(block);
    const raw = await stored(codec, 'r', noise);
    assert.equal(raw[5], 0, 'no zstd flag');
    assert.equal(raw.length, BLOB_HEADER_LENGTH + block);
    const mixed = Buffer.concat([randomBytes(block / 2), Buffer.alloc(block / 2, 'text ')]);
    const packed = await stored(codec, 'm', mixed);
    assert.equal(packed[5], 1, 'zstd flag');
    assert.ok(packed.length < block * 0.6, `stored ${packed.length} of ${block}`);
    assert.deepEqual(await plainCodec(block).decode('m', packed), mixed);
    assert.deepEqual(await plainCodec(block).decode('r', raw), noise);
  });

  it('encrypts with AES-256-GCM under a wrapped data key; tampering anywhere is damage, a missing or wrong key is not', async () => {
    const store = memoryStore();
    const key = master('k1');
    const codec = new TransformCodec({ maxBlockSize: MAX, compressionLevel: 3, keyring: new Keyring(store, [key]) });
    const data = compressible();
    const blob = await stored(codec, 'u1', data);
    assert.equal(blob[5], 3, 'zstd and AES-GCM');
    assert.equal(blob.readUInt16LE(6), ENCRYPTED_HEADER_LENGTH);
    assert.ok(!blob.includes(data.subarray(0, 64)), 'no plaintext in the blob');
    assert.deepEqual(await codec.decode('u1', blob), data);
    const docs = [...store.map.keys()].filter((k) => k.startsWith(KEYS_PREFIX));
    assert.equal(docs.length, 1, 'one data key, stored wrapped');
    assert.ok(!store.map.get(docs[0]!)!.toString().includes(key.key.toString('base64')), 'the master key is never stored');
    // Payload, salt, IV and tag: authentication fails.
    for (const at of [
      blob.length - 1,
      ENCRYPTED_HEADER_LENGTH + 5,
      BLOB_HEADER_LENGTH + 8,
      BLOB_HEADER_LENGTH + 30,
      ENCRYPTED_HEADER_LENGTH - 1,
    ]) {
      const bad = Buffer.from(blob);
      bad[at]! ^= 0x01;
      await assert.rejects(codec.decode('u1', bad), IntegrityError, `byte ${at} flipped`);
    }
    await assert.rejects(codec.decode('u2', blob), IntegrityError, 'bound to its uid');
    // A data key id that names no key: a key problem to report, never damage to mark.
    const badId = Buffer.from(blob);
    badId[BLOB_HEADER_LENGTH]! ^= 0x01;
    await assert.rejects(
      codec.decode('u1', badId),
      (err: Error) => err instanceof EncryptionKeyError && /is missing from the blob store/.test(err.message),
    );
    await assert.rejects(plainCodec(MAX).decode('u1', blob), EncryptionKeyError);
    const wrongKey = new TransformCodec({ maxBlockSize: MAX, keyring: new Keyring(store, [{ id: 'k1', key: randomBytes(32) }]) });
    await assert.rejects(
      wrongKey.decode('u1', blob),
      (err: Error) =>
        err instanceof EncryptionKeyError && /does not unwrap/.test(err.message) && !err.message.includes(key.key.toString('base64')),
    );
    const otherId = new TransformCodec({ maxBlockSize: MAX, keyring: new Keyring(store, [master('k2')]) });
    await assert.rejects(otherId.decode('u1', blob), /master key "k1", which is not configured/);
  });

  it('rekey re-wraps data keys under the new master key without touching blobs', async () => {
    const store = memoryStore();
    const [k1, k2] = [master('k1'), master('k2')];
    const before = new TransformCodec({ maxBlockSize: MAX, keyring: new Keyring(store, [k1]) });
    const data = randomBytes(8192);
    const blob = await stored(before, 'u1', data);
    const rotated = new Keyring(store, [k2, k1]);
    assert.deepEqual((await rotated.rekey()).rewrapped.length, 1);
    assert.deepEqual((await rotated.rekey()).rewrapped, [], 'a second rekey has nothing to do');
    const after = new TransformCodec({ maxBlockSize: MAX, keyring: new Keyring(store, [k2]) });
    assert.deepEqual(await after.decode('u1', blob), data, 'the old blob opens with the new key alone');
    const oldOnly = new TransformCodec({ maxBlockSize: MAX, keyring: new Keyring(store, [k1]) });
    await assert.rejects(oldOnly.decode('u1', blob), EncryptionKeyError, 'and no longer with the old one');
  });

  it('refuses a blob that decompresses beyond the largest block', async () => {
    const big = new TransformCodec({ maxBlockSize: 4 * MAX, compressionLevel: 1 });
    const blob = await stored(big, 'u1', Buffer.alloc(2 * MAX, 'z'));
    await assert.rejects(new TransformCodec({ maxBlockSize: MAX }).decode('u1', blob), /bad zstd payload/);
  });
});
