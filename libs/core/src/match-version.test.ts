/** A version named by its uid or a unique prefix, as tables show uids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, VersionNotFoundError } from './errors.ts';
import { matchVersion } from './model.ts';

const versions = [
  { uid: '7000ad40-5108-468f-a8d4-a37e09cdad10' },
  { uid: '700e01b9-0c57-4b1a-9f0e-2f2d4c1a8e55' },
  { uid: '3f2a9c1e-aaaa-4bbb-8ccc-dddddddddddd' },
];

describe('matchVersion', () => {
  it('takes a whole uid, or a prefix that only one uid begins with', () => {
    assert.equal(matchVersion(versions, versions[1]!.uid), versions[1]);
    assert.equal(matchVersion(versions, '7000'), versions[0]);
    assert.equal(matchVersion(versions, '3f2a9c1e'), versions[2]);
  });

  it('refuses an ambiguous prefix naming the matches, a too short one, and one nothing begins with', () => {
    assert.throws(
      () => matchVersion(versions, '700'),
      (err: Error) => err instanceof InvalidArgumentError && /at least 4/.test(err.message),
    );
    const two = [...versions, { uid: '7000ad99-0000-4000-8000-000000000000' }];
    assert.throws(
      () => matchVersion(two, '7000ad'),
      (err: Error) => err instanceof InvalidArgumentError && /ambiguous: 2 versions/.test(err.message) && err.message.includes(two[3]!.uid),
    );
    assert.throws(() => matchVersion(versions, 'beef'), VersionNotFoundError);
    assert.throws(() => matchVersion(versions, ''), VersionNotFoundError);
  });
});
