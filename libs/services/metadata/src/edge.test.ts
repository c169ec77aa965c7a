/** What the metadata service's edge refuses: malformed times and settings, and a commit without a version. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SqliteMetadataStore } from '@blockvault/adapter-embedded';
import { CHANNEL_OPTIONS } from '@blockvault/grpc-edge';
import { MetadataServiceClient, type metadataPb } from '@blockvault/proto';
import { tempDir, type TempDir } from '@blockvault/testing';
import { serveMetadata, type MetadataServer } from './server.ts';

let dir: TempDir;
let store: SqliteMetadataStore;
let server: MetadataServer;
let client: MetadataServiceClient;

before(async () => {
  dir = await tempDir();
  store = new SqliteMetadataStore(dir.file('metadata.sqlite'));
  server = await serveMetadata(store, '127.0.0.1:0');
  client = new MetadataServiceClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
});
after(async () => {
  client.close();
  await server.stop();
  await store.close();
  await dir.remove();
});

const status = (invoke: (cb: (err: grpc.ServiceError | null) => void) => void): Promise<grpc.status> =>
  new Promise((done) => invoke((err) => done(err ? err.code : grpc.status.OK)));

describe('metadata service edge', () => {
  it('refuses a version with a malformed date as INVALID_ARGUMENT and stores nothing', async () => {
    const record: metadataPb.VersionRecord = {
      uid: 'v1',
      name: 'vm',
      snapshotName: '',
      date: 'yesterday',
      size: 1,
      sizeBytes: 4096,
      valid: false,
      protected: false,
      tags: [],
      expire: '',
    };
    assert.equal(await status((cb) => client.createVersion(record, cb)), grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(await store.listVersions(), []);
  });

  it('refuses a setting that is not JSON, and a commit that names no version', async () => {
    assert.equal(await status((cb) => client.putSetting({ key: 'schedules', json: '{nope' }, cb)), grpc.status.INVALID_ARGUMENT);
    assert.equal(await store.getSetting('schedules'), undefined);
    const code = await status((cb) => {
      const call = client.commitSegments(cb);
      call.write({ versionUid: '', entries: [], newBlobs: [] });
      call.end();
    });
    assert.equal(code, grpc.status.INVALID_ARGUMENT);
  });

  it('answers NOT_FOUND with the domain error class in the trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((done) => client.getVersion({ uid: 'nope' }, (e) => done(e!)));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.deepEqual(err.metadata.get('blockvault-error'), ['VersionNotFoundError']);
  });
});
