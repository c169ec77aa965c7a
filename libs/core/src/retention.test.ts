import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Version } from './model.ts';
import { parseRetentionRules, planRetention } from './retention.ts';

function v(uid: string, date: string, extra: Partial<Version> = {}): Version {
  return {
    uid,
    name: 'vm1',
    snapshotName: '',
    date: new Date(date),
    size: 1,
    sizeBytes: 1,
    valid: true,
    protected: false,
    tags: [],
    expire: null,
    stats: null,
    ...extra,
  };
}

const kept = (d: ReturnType<typeof planRetention>): string[] =>
  d
    .filter((x) => x.keep)
    .map((x) => x.version.uid)
    .sort();

describe('retention', () => {
  it('parses rules and refuses bad ones', () => {
    assert.deepEqual(parseRetentionRules('latest3,hours48,days7,weeks4,months12,years3'), {
      latest: 3,
      hours: 48,
      days: 7,
      weeks: 4,
      months: 12,
      years: 3,
    });
    assert.throws(() => parseRetentionRules('latest3,fortnights2'), /invalid retention rule/);
    assert.throws(() => parseRetentionRules('days1,days2'), /given twice/);
    assert.throws(() => parseRetentionRules(''), /no retention rules/);
  });

  it('latestN keeps the N newest valid versions', () => {
    const versions = [v('a', '2026-01-01T00:00:00Z'), v('b', '2026-01-02T00:00:00Z'), v('c', '2026-01-03T00:00:00Z')];
    assert.deepEqual(kept(planRetention(versions, { latest: 2 }, new Date('2026-01-10T00:00:00Z'), 'UTC')), ['b', 'c']);
  });

  it('daysN keeps the oldest version of each of the last N calendar days, today included', () => {
    const versions = [
      v('d1-early', '2026-03-08T01:00:00Z'),
      v('d1-late', '2026-03-08T23:00:00Z'),
      v('d2', '2026-03-09T12:00:00Z'),
      v('d3-a', '2026-03-10T00:30:00Z'),
      v('d3-b', '2026-03-10T09:00:00Z'),
    ];
    const now = new Date('2026-03-10T10:00:00Z');
    assert.deepEqual(kept(planRetention(versions, { days: 2 }, now, 'UTC')), ['d2', 'd3-a']);
    assert.deepEqual(kept(planRetention(versions, { days: 3 }, now, 'UTC')), ['d1-early', 'd2', 'd3-a']);
  });

  it('aligns periods to the calendar of the given time zone', () => {
    // 23:30 UTC on March 9 is already March 10 in Berlin (UTC+1).
    const versions = [v('late', '2026-03-09T23:30:00Z'), v('next', '2026-03-10T08:00:00Z')];
    const now = new Date('2026-03-10T09:00:00Z');
    assert.deepEqual(kept(planRetention(versions, { days: 1 }, now, 'UTC')), ['next']);
    assert.deepEqual(kept(planRetention(versions, { days: 1 }, now, 'Europe/Berlin')), ['late']);
  });

  it('weeks start on Monday; months and years are calendar months and years', () => {
    const versions = [
      v('sun', '2026-03-08T12:00:00Z'),
      v('mon', '2026-03-09T12:00:00Z'),
      v('feb', '2026-02-27T12:00:00Z'),
      v('2025', '2025-12-31T12:00:00Z'),
    ];
    const now = new Date('2026-03-11T12:00:00Z'); // a Wednesday
    assert.deepEqual(kept(planRetention(versions, { weeks: 1 }, now, 'UTC')), ['mon']);
    assert.deepEqual(kept(planRetention(versions, { months: 2 }, now, 'UTC')), ['feb', 'sun']);
    assert.deepEqual(kept(planRetention(versions, { years: 2 }, now, 'UTC')), ['2025', 'feb']);
  });

  it('never removes protected or invalid versions, and says why each one stays', () => {
    const versions = [
      v('old-protected', '2020-01-01T00:00:00Z', { protected: true }),
      v('broken', '2020-01-02T00:00:00Z', { valid: false }),
      v('old', '2020-01-03T00:00:00Z'),
      v('new', '2026-01-01T00:00:00Z'),
    ];
    const plan = planRetention(versions, { latest: 1 }, new Date('2026-01-02T00:00:00Z'), 'UTC');
    assert.deepEqual(kept(plan), ['broken', 'new', 'old-protected']);
    assert.deepEqual(plan.find((d) => d.version.uid === 'new')?.reasons, ['latest1 (#1)']);
    assert.deepEqual(plan.find((d) => d.version.uid === 'old')?.reasons, []);
  });
});
