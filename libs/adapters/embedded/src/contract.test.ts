import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { systemClock, UnavailableError } from '@blockvault/core';
import { blobStoreContract, locksContract, metadataContract, tempDir } from '@blockvault/testing';
import { FsBlobStore } from './fs-blob-store.ts';
import { SqliteLocks } from './sqlite-locks.ts';
import { SqliteMetadataStore } from './sqlite-metadata.ts';

const dir = await tempDir();
after(() => dir.remove());
metadataContract('SQLite (node:sqlite)', async () => new SqliteMetadataStore(dir.file('metadata.sqlite')));
blobStoreContract('filesystem', async () => new FsBlobStore(dir.file('blobs')));
locksContract('SQLite leases', async (clock, options) => new SqliteLocks(dir.file('locks.sqlite'), clock, options));

describe('SQLite errors', () => {
  it('a write that finds another process holding the write lock fails as unavailable, not as a bug', async () => {
    const path = dir.file('busy.sqlite');
    const store = new SqliteMetadataStore(path, systemClock, 50);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      await assert.rejects(store.putSetting('k', 1), (err: unknown) => err instanceof UnavailableError && /busy/.test(err.message));
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await store.putSetting('k', 1);
    assert.equal(await store.getSetting('k'), 1);
    await store.close();
  });
});
