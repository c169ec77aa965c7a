import type { Version } from './model.ts';

const DAY_MS = 86_400_000;

function utcDay(d: Date): number {
  return Math.floor(d.getTime() / DAY_MS);
}

function monthsBetween(from: Date, to: Date): number {
  let months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth());
  if (to.getUTCDate() < from.getUTCDate()) months--;
  return months;
}

/**
 * Automatic tags for a new version of a volume (backy2's rule, dates in UTC): `b_daily` when the
 * last `b_daily` version is from an earlier day, `b_weekly` when the last `b_weekly` one is at
 * least 7 days old, `b_monthly` when the last `b_monthly` one is at least a calendar month old.
 */
export function autoTags(sameName: readonly Version[], now: Date): string[] {
  const last = (tag: string): Date | undefined => {
    let newest: Date | undefined;
    for (const v of sameName) if (v.tags.includes(tag) && (!newest || v.date > newest)) newest = v.date;
    return newest;
  };
  const tags: string[] = [];
  const daily = last('b_daily');
  if (!daily || utcDay(now) - utcDay(daily) > 0) tags.push('b_daily');
  const weekly = last('b_weekly');
  if (!weekly || Math.floor((utcDay(now) - utcDay(weekly)) / 7) > 0) tags.push('b_weekly');
  const monthly = last('b_monthly');
  if (!monthly || monthsBetween(monthly, now) > 0) tags.push('b_monthly');
  return tags;
}

const TAG_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}
