import { after } from 'node:test';
import { blobStoreContract, locksContract, metadataContract, tempDir } from '@blockvault/testing';
import { FsBlobStore } from './fs-blob-store.ts';
import { SqliteLocks } from './sqlite-locks.ts';
import { SqliteMetadataStore } from './sqlite-metadata.ts';

const dir = await tempDir();
after(() => dir.remove());
metadataContract('SQLite (node:sqlite)', async () => new SqliteMetadataStore(dir.file('metadata.sqlite')));
blobStoreContract('filesystem', async () => new FsBlobStore(dir.file('blobs')));
locksContract('SQLite leases', async (clock, options) => new SqliteLocks(dir.file('locks.sqlite'), clock, options));
