/** The BlobStore contract against a real Ceph RADOS Gateway (or BLOCKVAULT_S3_*: MinIO, AWS). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AuthenticationError } from '@blockvault/core';
import { blobStoreContract, useS3, type S3Handle } from '@blockvault/testing';
import { S3BlobStore } from './s3-blob-store.ts';

let s3: S3Handle;
before(async () => {
  s3 = await useS3();
});
after(() => s3.stop());

const bucket = (): string => `bv-test-${randomBytes(4).toString('hex')}`;

blobStoreContract('S3 (minio client)', async () => {
  const store = new S3BlobStore({ ...s3.config, bucket: bucket() });
  await store.init();
  return store;
});

describe('S3 specifics', () => {
  it('wrong credentials give a clear authentication error that names no secret', async () => {
    const store = new S3BlobStore({ ...s3.config, secretKey: 'wrong-secret-key-wrong-secret-key', bucket: bucket() });
    const err = await store.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof AuthenticationError, `got ${String(err)}`);
    assert.match(err.message, /refused the credentials/);
    assert.doesNotMatch(err.message, /wrong-secret-key/);
  });

  it('an unreachable endpoint is reported as unavailable (the platform wrapper retries, not the adapter)', async () => {
    const store = new S3BlobStore({ ...s3.config, port: 1, bucket: bucket() });
    await assert.rejects(store.init(), /UNAVAILABLE|cannot check the bucket/);
  });
});
