import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsupportedUrlError } from '@blockvault/core';
import { parseRbdUrl } from './rbd-io.ts';

describe('rbd:// URLs', () => {
  it('names a pool, an image and optionally a snapshot', () => {
    assert.deepEqual(parseRbdUrl(new URL('rbd://rbd/vm-1.disk@daily-2026')), { pool: 'rbd', image: 'vm-1.disk', snapshot: 'daily-2026' });
    assert.deepEqual(parseRbdUrl(new URL('rbd://pool/image')), { pool: 'pool', image: 'image', snapshot: null });
  });

  it('refuses odd names before running anything', () => {
    for (const url of [
      'rbd://pool/',
      'rbd://pool/a/b',
      'rbd://pool/img@',
      'rbd://pool/img@s@t',
      'rbd://pool:6789/img',
      'rbd://pool/-x',
      'rbd://pool/%2e%2e',
    ]) {
      assert.throws(() => parseRbdUrl(new URL(url)), UnsupportedUrlError, url);
    }
  });
});
