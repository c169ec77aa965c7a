/** The MetadataStore contract through the metadata service (gRPC) in front of SQLite. */
import { after } from 'node:test';
import { SqliteMetadataStore } from '@blockvault/adapter-embedded';
import { metadataContract, tempDir } from '@blockvault/testing';
import { RemoteMetadataStore } from './client.ts';
import { serveMetadata, type MetadataServer } from './server.ts';

const dir = await tempDir();
let server: MetadataServer | undefined;
let backing: SqliteMetadataStore | undefined;
after(async () => {
  await server?.stop();
  await backing?.close();
  await dir.remove();
});

metadataContract('metadata service over gRPC', async () => {
  backing = new SqliteMetadataStore(dir.file('metadata.sqlite'));
  server = await serveMetadata(backing, '127.0.0.1:0');
  return new RemoteMetadataStore(`127.0.0.1:${server.port}`);
});
