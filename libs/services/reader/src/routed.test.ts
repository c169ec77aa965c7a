/** Routing a URL to the reader that reaches it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readerFor } from './routed.ts';

const a = { id: 'a', address: 'a:1', roots: ['/srv/a'], pools: [] };
const ab = { id: 'ab', address: 'ab:1', roots: ['/srv/a/b'], pools: ['rbd'] };
const any = { id: 'any', address: 'any:1', roots: [], pools: [] };

describe('readerFor', () => {
  it('picks the reader with the longest root holding the file', () => {
    assert.equal(readerFor(new URL('file:///srv/a/x.img'), [a, ab])?.id, 'a');
    assert.equal(readerFor(new URL('file:///srv/a/b/x.img'), [a, ab])?.id, 'ab');
  });
  it('does not take a root as a prefix of a longer name', () => {
    assert.equal(readerFor(new URL('file:///srv/ab/x.img'), [a]), undefined);
  });
  it('routes an rbd image to a reader of its pool', () => {
    assert.equal(readerFor(new URL('rbd://rbd/vm1@s1'), [a, ab])?.id, 'ab');
    assert.equal(readerFor(new URL('rbd://other/vm1@s1'), [a, ab]), undefined);
  });
  it('leaves what no root claims to a reader that announced none', () => {
    assert.equal(readerFor(new URL('file:///elsewhere/x.img'), [a, any])?.id, 'any');
    assert.equal(readerFor(new URL('file:///srv/a/x.img'), [a, any])?.id, 'a');
  });
});
