import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOB_HEADER_LENGTH, decodeBlob, encodeBlobHeader } from './blob-format.ts';
import { IntegrityError } from './errors.ts';

describe('blob format', () => {
  it('round-trips a payload behind a 16-byte versioned header', () => {
    const payload = Buffer.from('block bytes');
    const stored = Buffer.concat([encodeBlobHeader(payload.length), payload]);
    assert.equal(stored.length, BLOB_HEADER_LENGTH + payload.length);
    assert.deepEqual(decodeBlob('k', stored), payload);
  });

  it('detects a foreign file, a truncated blob and an unknown transform', () => {
    const payload = Buffer.from('block bytes');
    const stored = Buffer.concat([encodeBlobHeader(payload.length), payload]);
    assert.throws(() => decodeBlob('k', Buffer.from('not a blob at all')), IntegrityError);
    assert.throws(() => decodeBlob('k', stored.subarray(0, stored.length - 1)), /payload bytes/);
    const flagged = Buffer.from(stored);
    flagged[5] = 1;
    assert.throws(() => decodeBlob('k', flagged), /not supported/);
  });
});
