import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Version } from './model.ts';
import { autoTags } from './tags.ts';

function v(date: string, tags: string[]): Version {
  return {
    uid: date,
    name: 'vm1',
    snapshotName: '',
    date: new Date(date),
    size: 1,
    sizeBytes: 1,
    valid: true,
    protected: false,
    tags,
    expire: null,
    stats: null,
  };
}

describe('autoTags', () => {
  it('tags the first version of a volume daily, weekly and monthly', () => {
    assert.deepEqual(autoTags([], new Date('2026-03-10T12:00:00Z')), ['b_daily', 'b_weekly', 'b_monthly']);
  });

  it('adds b_daily once per UTC day', () => {
    const versions = [v('2026-03-10T01:00:00Z', ['b_daily', 'b_weekly', 'b_monthly'])];
    assert.deepEqual(autoTags(versions, new Date('2026-03-10T23:59:00Z')), []);
    assert.deepEqual(autoTags(versions, new Date('2026-03-11T00:00:01Z')), ['b_daily']);
  });

  it('adds b_weekly after 7 days and b_monthly after a calendar month', () => {
    const versions = [v('2026-01-31T10:00:00Z', ['b_daily', 'b_weekly', 'b_monthly'])];
    assert.deepEqual(autoTags(versions, new Date('2026-02-06T10:00:00Z')), ['b_daily']);
    assert.deepEqual(autoTags(versions, new Date('2026-02-07T10:00:00Z')), ['b_daily', 'b_weekly']);
    assert.deepEqual(autoTags(versions, new Date('2026-02-28T10:00:00Z')), ['b_daily', 'b_weekly']);
    assert.deepEqual(autoTags(versions, new Date('2026-03-31T10:00:00Z')), ['b_daily', 'b_weekly', 'b_monthly']);
  });
});
