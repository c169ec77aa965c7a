/**
 * Schedules (backy2's scheduler semantics): per volume and scheduler tag, an interval, how many
 * versions to keep, and an SLA tolerance. `due` says whether a backup should run now (30 s early
 * is fine); `slaBreaches` lists what is wrong with the versions that exist.
 */
import { InvalidArgumentError } from './errors.ts';
import type { Version } from './model.ts';

export interface Schedule {
  /** The volume. */
  readonly name: string;
  /** The tag its versions carry, e.g. `daily`. */
  readonly scheduler: string;
  readonly intervalSeconds: number;
  readonly keep: number;
  readonly slaSeconds: number;
  /** What the scheduler backs up when the schedule is due (services); none: only `due` reports it. */
  readonly source?: string;
  /** Retention rules the scheduler enforces on the volume once a day, e.g. `latest3,days7`. */
  readonly retention?: string;
}

const DUE_EARLY_MS = 30_000;
const DAY_MS = 86_400_000;

/** `90s`, `30m`, `12h`, `7d`, `2w` or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhdw]?)$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`invalid duration ${JSON.stringify(text)}: use e.g. 90s, 30m, 12h, 7d or 2w`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

function matching(versions: readonly Version[], s: Schedule): Version[] {
  return versions
    .filter((v) => v.valid && v.name === s.name && v.tags.includes(s.scheduler))
    .sort((a, b) => a.date.getTime() - b.date.getTime());
}

export function isDue(versions: readonly Version[], s: Schedule, now: Date): boolean {
  if (s.keep === 0) return false;
  const mine = matching(versions, s);
  const newest = mine.at(-1);
  return !newest || now.getTime() > newest.date.getTime() + s.intervalSeconds * 1000 - DUE_EARLY_MS;
}

export function slaBreaches(versions: readonly Version[], s: Schedule, now: Date): string[] {
  const mine = matching(versions, s);
  const interval = s.intervalSeconds * 1000;
  const sla = s.slaSeconds * 1000;
  const at = (ms: number): string => new Date(ms).toISOString();
  const breaches: string[] = [];
  if (mine.length < s.keep) breaches.push(`${s.scheduler}: too few backups: found ${mine.length}, should be ${s.keep}`);
  if (mine.length > s.keep + 2) breaches.push(`${s.scheduler}: too many backups: found ${mine.length}, should be ${s.keep}`);
  const newest = mine.at(-1);
  if (newest && newest.date.getTime() + interval + sla < now.getTime()) {
    breaches.push(
      `${s.scheduler}: latest backup ${newest.uid} of ${newest.date.toISOString()} is too old; a new one is due since ${at(newest.date.getTime() + interval + sla)}`,
    );
  }
  for (let i = 1; i < mine.length; i++) {
    const prev = mine[i - 1]!.date.getTime();
    const v = mine[i]!;
    if (v.date.getTime() < prev + interval - sla || v.date.getTime() > prev + interval + sla) {
      breaches.push(
        `${s.scheduler}: version ${v.uid} of ${v.date.toISOString()} is outside its SLA range ${at(prev + interval - sla)} .. ${at(prev + interval + sla)}`,
      );
    }
  }
  const oldestAllowed = now.getTime() - s.keep * interval - sla - DAY_MS; // a day of lazy deletion
  const oldest = mine[0];
  if (oldest && oldest.date.getTime() < oldestAllowed) {
    breaches.push(`${s.scheduler}: version ${oldest.uid} of ${oldest.date.toISOString()} is older than allowed (${at(oldestAllowed)})`);
  }
  return breaches;
}

export function validateSchedule(s: Schedule): Schedule {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(s.scheduler)) throw new InvalidArgumentError(`invalid scheduler tag ${JSON.stringify(s.scheduler)}`);
  if (!(s.intervalSeconds > 0)) throw new InvalidArgumentError('a schedule needs an interval > 0');
  if (!Number.isSafeInteger(s.keep) || s.keep < 0) throw new InvalidArgumentError('keep must be a non-negative integer');
  if (!(s.slaSeconds >= 0)) throw new InvalidArgumentError('sla must be >= 0');
  return s;
}
