import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Version } from './model.ts';
import { isDue, parseDuration, slaBreaches, type Schedule } from './schedules.ts';
import { scheduleStatus } from './summary.ts';

const daily: Schedule = { name: 'vm1', scheduler: 'daily', intervalSeconds: 86_400, keep: 3, slaSeconds: 3600 };
function v(uid: string, date: string, tags = ['daily'], extra: Partial<Version> = {}): Version {
  return {
    uid,
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
    ...extra,
  };
}

describe('schedules', () => {
  it('parses durations', () => {
    assert.deepEqual(['90', '90s', '30m', '12h', '7d', '2w'].map(parseDuration), [90, 90, 1800, 43_200, 604_800, 1_209_600]);
    assert.throws(() => parseDuration('1 day'), /invalid duration/);
  });

  it('is due with no version, and from 30 s before the interval has passed', () => {
    assert.equal(isDue([], daily, new Date('2026-03-10T00:00:00Z')), true);
    const versions = [v('a', '2026-03-10T00:00:00Z'), v('other-tag', '2026-03-10T23:00:00Z', ['weekly'])];
    assert.equal(isDue(versions, daily, new Date('2026-03-10T23:59:29Z')), false);
    assert.equal(isDue(versions, daily, new Date('2026-03-10T23:59:31Z')), true);
    assert.equal(
      isDue([v('bad', '2026-03-10T00:00:00Z', ['daily'], { valid: false })], daily, new Date('2026-03-10T01:00:00Z')),
      true,
      'invalid versions do not count',
    );
    assert.equal(isDue([], { ...daily, keep: 0 }, new Date()), false);
  });

  it('reports no breach for a healthy series', () => {
    const versions = [v('a', '2026-03-08T00:00:00Z'), v('b', '2026-03-09T00:10:00Z'), v('c', '2026-03-10T00:05:00Z')];
    assert.deepEqual(slaBreaches(versions, daily, new Date('2026-03-10T12:00:00Z')), []);
  });

  it('reports too few, too many, too old, gaps outside interval ± sla, and an oldest version past keep', () => {
    const now = new Date('2026-03-10T12:00:00Z');
    assert.match(slaBreaches([v('a', '2026-03-10T00:00:00Z')], daily, now).join('\n'), /too few backups: found 1, should be 3/);
    const many = ['05', '06', '07', '08', '09', '10'].map((d) => v(d, `2026-03-${d}T00:00:00Z`));
    assert.match(slaBreaches(many, daily, now).join('\n'), /too many backups: found 6/);
    const stale = [v('a', '2026-03-06T00:00:00Z'), v('b', '2026-03-07T00:00:00Z'), v('c', '2026-03-08T00:00:00Z')];
    assert.match(slaBreaches(stale, daily, now).join('\n'), /latest backup c .* is too old/);
    const gap = [v('a', '2026-03-08T00:00:00Z'), v('b', '2026-03-08T06:00:00Z'), v('c', '2026-03-10T00:00:00Z')];
    const gapBreaches = slaBreaches(gap, daily, now).join('\n');
    assert.match(gapBreaches, /version b .* outside its SLA range/);
    assert.match(gapBreaches, /version c .* outside its SLA range/);
    const ancient = [v('a', '2026-03-01T00:00:00Z'), v('b', '2026-03-09T00:00:00Z'), v('c', '2026-03-10T00:00:00Z')];
    assert.match(slaBreaches(ancient, daily, now).join('\n'), /version a .* is older than allowed/);
  });

  it("a schedule's status: its newest valid version, when the next is due, and its breaches", () => {
    const now = new Date('2026-12-10T12:00:00Z');
    const versions = [
      v('a', '2026-12-08T00:00:00Z'),
      v('b', '2026-12-09T00:00:00Z'),
      v('c', '2026-12-10T00:00:00Z', ['daily'], { valid: false }),
      v('d', '2026-12-10T01:00:00Z', ['weekly']),
    ];
    const status = scheduleStatus(versions, daily, now);
    assert.deepEqual(
      status.latest,
      { uid: 'b', date: new Date('2026-12-09T00:00:00Z') },
      'an invalid or other-tagged version is not its latest',
    );
    assert.equal(status.nextDue.toISOString(), '2026-12-10T00:00:00.000Z');
    assert.equal(status.due, true);
    assert.deepEqual(status.breaches, slaBreaches(versions, daily, now));
    const none = scheduleStatus([], daily, now);
    assert.deepEqual([none.latest, none.nextDue, none.due], [null, now, true]);
  });
});
