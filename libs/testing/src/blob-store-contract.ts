/** The BlobStore contract: every adapter (filesystem, S3, ...) runs this suite. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BlobNotFoundError, type BlobStore } from '@blockvault/core';

export function blobStoreContract(name: string, open: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store.close();
    });

    it('stores chunks as one blob and reads them back', async () => {
      const [a, b] = [randomBytes(1000), randomBytes(4 * 1024 * 1024)];
      await store.put('0123456789abcdef', [a, b]);
      assert.deepEqual(await store.get('0123456789abcdef'), Buffer.concat([a, b]));
    });

    it('overwrites a blob put again under the same key', async () => {
      await store.put('1111222233334444', [Buffer.from('one')]);
      await store.put('1111222233334444', [Buffer.from('two')]);
      assert.deepEqual(await store.get('1111222233334444'), Buffer.from('two'));
    });

    it('reports a missing blob as BlobNotFoundError, and stat as undefined', async () => {
      await assert.rejects(store.get('ffffeeeeddddcccc'), BlobNotFoundError);
      assert.equal(await store.stat('ffffeeeeddddcccc'), undefined);
    });

    it('stats a blob: its stored size', async () => {
      await store.put('2222333344445555', [Buffer.alloc(10), Buffer.alloc(5)]);
      assert.deepEqual(await store.stat('2222333344445555'), { size: 15 });
    });

    it('keeps version metadata documents under versions/, apart from block blobs', async () => {
      await store.put('versions/0b6f-uid', [Buffer.from('{}')]);
      await store.put('5555666677778888', [Buffer.from('block')]);
      const blocks: string[] = [];
      for await (const k of store.list()) blocks.push(k);
      assert.ok(!blocks.some((k) => k.startsWith('versions/')));
      const docs: string[] = [];
      for await (const k of store.list('versions/')) docs.push(k);
      assert.deepEqual(docs, ['versions/0b6f-uid']);
      assert.deepEqual(await store.get('versions/0b6f-uid'), Buffer.from('{}'));
      await store.put('keys/00ff00ff00ff00ff', [Buffer.from('{"k":1}')]);
      const keys: string[] = [];
      for await (const k of store.list('keys/')) keys.push(k);
      assert.deepEqual(keys, ['keys/00ff00ff00ff00ff'], 'wrapped data keys under keys/, apart from versions/');
      assert.deepEqual(await store.get('keys/00ff00ff00ff00ff'), Buffer.from('{"k":1}'));
      await store.delete(['versions/0b6f-uid', '5555666677778888', 'keys/00ff00ff00ff00ff']);
    });

    it('lists keys by prefix and deletes them (deleting a missing key is fine)', async () => {
      const keys = ['aa00000000000001', 'aa00000000000002', 'ab00000000000003'];
      for (const k of keys) await store.put(k, [Buffer.from(k)]);
      const listed: string[] = [];
      for await (const k of store.list('aa')) listed.push(k);
      assert.deepEqual(listed.sort(), keys.slice(0, 2));
      await store.delete([...keys, 'ac00000000000009']);
      for (const k of keys) await assert.rejects(store.get(k), BlobNotFoundError);
    });
  });
}
