/**
 * Retention (Benji's rules): `latest3,hours48,days7,weeks4,months12,years3`. Each time rule keeps,
 * for each of the last N calendar periods (the current one included) in the configured time
 * zone, the oldest valid version of that period; `latestN` keeps the N newest valid versions. A
 * version any rule keeps stays; protected and invalid versions are never removed.
 */
import { InvalidArgumentError } from './errors.ts';
import type { Version } from './model.ts';

export const RETENTION_CATEGORIES = ['latest', 'hours', 'days', 'weeks', 'months', 'years'] as const;
export type RetentionCategory = (typeof RETENTION_CATEGORIES)[number];
export type RetentionRules = Partial<Record<RetentionCategory, number>>;

export function parseRetentionRules(text: string): RetentionRules {
  const rules: RetentionRules = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(latest|hours|days|weeks|months|years)(\d+)$/.exec(part);
    if (!m)
      throw new InvalidArgumentError(
        `invalid retention rule ${JSON.stringify(part)}: use e.g. latest3,hours48,days7,weeks4,months12,years3`,
      );
    const category = m[1] as RetentionCategory;
    if (rules[category] !== undefined) throw new InvalidArgumentError(`retention rule ${category} given twice`);
    rules[category] = Number(m[2]);
  }
  if (Object.keys(rules).length === 0) throw new InvalidArgumentError('no retention rules given');
  return rules;
}

export function checkTimeZone(timeZone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new InvalidArgumentError(`unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as UTC or Europe/Berlin`);
  }
}

/** Calendar period ordinals of an instant in a time zone: consecutive periods differ by 1. */
function periods(date: Date, timeZone: string): Record<Exclude<RetentionCategory, 'latest'>, number> {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
  }).formatToParts(date);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const [y, m, d, h] = [get('year'), get('month'), get('day'), get('hour')];
  const day = Date.UTC(y, m - 1, d) / 86_400_000;
  // 1970-01-01 was a Thursday; +3 makes weeks start on Monday (ISO 8601).
  return { hours: day * 24 + h, days: day, weeks: Math.floor((day + 3) / 7), months: y * 12 + m - 1, years: y };
}

export interface RetentionDecision {
  readonly version: Version;
  readonly keep: boolean;
  /** Why it is kept (rules, protection, invalid), or empty when it goes. */
  readonly reasons: string[];
}

/** Decides for the versions of one volume. */
export function planRetention(versions: readonly Version[], rules: RetentionRules, now: Date, timeZone: string): RetentionDecision[] {
  const newestFirst = [...versions].sort((a, b) => b.date.getTime() - a.date.getTime() || b.uid.localeCompare(a.uid));
  const reasons = new Map<string, string[]>(newestFirst.map((v) => [v.uid, []]));
  const valid = newestFirst.filter((v) => v.valid);
  valid.slice(0, rules.latest ?? 0).forEach((v, i) => reasons.get(v.uid)!.push(`latest${rules.latest} (#${i + 1})`));
  const current = periods(now, timeZone);
  for (const category of ['hours', 'days', 'weeks', 'months', 'years'] as const) {
    const n = rules[category];
    if (!n) continue;
    const oldestInPeriod = new Map<number, Version>();
    for (const v of valid) {
      const p = periods(v.date, timeZone)[category];
      if (current[category] - p < n) oldestInPeriod.set(p, v); // newest first: the last set is the oldest
    }
    for (const [p, v] of oldestInPeriod) reasons.get(v.uid)!.push(`${category}${n} (${current[category] - p} ago)`);
  }
  return newestFirst.map((version) => {
    const why = reasons.get(version.uid)!;
    if (version.protected) why.push('protected');
    if (!version.valid) why.push('invalid (left for inspection)');
    return { version, keep: why.length > 0, reasons: why };
  });
}
