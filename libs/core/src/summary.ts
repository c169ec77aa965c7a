/**
 * What a person or a dashboard reads about the repository at a glance: a version's blocks by
 * state, the space all versions use, and where each schedule stands. The CLI's `show`, `du` and
 * `schedule ls` and the job API's read methods print the same numbers from here.
 */
import type { BlockInfo, Version } from './model.ts';
import { isDue, slaBreaches, type Schedule } from './schedules.ts';

export interface BlockCount {
  readonly blocks: number;
  readonly bytes: number;
}

/** Blocks of a version by state: what `show` summarises. */
export interface BlockSummary {
  /** Blocks whose blob no earlier block of the version references. */
  readonly unique: BlockCount;
  /** Blocks whose blob an earlier block of the version already references. */
  readonly deduplicated: BlockCount;
  /** All-zero blocks, stored as nothing. */
  readonly sparse: BlockCount;
  /** Blocks whose blob is missing or damaged (counted here only). */
  readonly invalid: BlockCount;
  /** Blocks no segment records yet (an incomplete version). */
  readonly unrecorded: BlockCount;
}

export function summarizeBlocks(version: Version, list: readonly BlockInfo[]): BlockSummary {
  const seen = new Set<string>();
  const count = { unique: [0, 0], deduplicated: [0, 0], sparse: [0, 0], invalid: [0, 0] } as Record<string, [number, number]>;
  let recordedBytes = 0;
  for (const b of list) {
    recordedBytes += b.size;
    const state = b.checksum === null ? 'sparse' : !b.valid ? 'invalid' : seen.has(b.checksum) ? 'deduplicated' : 'unique';
    if (b.checksum !== null) seen.add(b.checksum);
    count[state]![0]++;
    count[state]![1] += b.size;
  }
  const pair = ([n, size]: [number, number]): BlockCount => ({ blocks: n, bytes: size });
  return {
    unique: pair(count['unique']!),
    deduplicated: pair(count['deduplicated']!),
    sparse: pair(count['sparse']!),
    invalid: pair(count['invalid']!),
    unrecorded: { blocks: version.size - list.length, bytes: version.sizeBytes - recordedBytes },
  };
}

/** The space of the whole repository, in block bytes before compression and encryption. */
export interface RepositoryUsage {
  readonly versions: number;
  /** Bytes of every version's source, added up. */
  readonly sourceBytes: number;
  /** Of those, recorded as sparse (stored as nothing). */
  readonly sparseBytes: number;
  /** Of those, not recorded yet (incomplete versions). */
  readonly unrecordedBytes: number;
  /** Distinct blobs the versions reference, and their bytes. */
  readonly blobs: number;
  readonly blobBytes: number;
  /** Recorded non-sparse bytes per blob byte: 1 when nothing repeats; 0 without blobs. */
  readonly dedupRatio: number;
}

/** Where one schedule stands now. */
export interface ScheduleStatus {
  readonly schedule: Schedule;
  /** Its newest valid version, if any. */
  readonly latest: { readonly uid: string; readonly date: Date } | null;
  /** When its next backup is due (now, when it has none). */
  readonly nextDue: Date;
  /** Whether a backup is due now (30 s early counts). */
  readonly due: boolean;
  /** Each SLA breach in words; empty when it meets its SLA. */
  readonly breaches: readonly string[];
}

export function scheduleStatus(versions: readonly Version[], schedule: Schedule, now: Date): ScheduleStatus {
  const newest = versions
    .filter((v) => v.valid && v.name === schedule.name && v.tags.includes(schedule.scheduler))
    .reduce<Version | undefined>((a, v) => (!a || v.date.getTime() > a.date.getTime() ? v : a), undefined);
  return {
    schedule,
    latest: newest ? { uid: newest.uid, date: newest.date } : null,
    nextDue: newest ? new Date(newest.date.getTime() + schedule.intervalSeconds * 1000) : now,
    due: isDue(versions, schedule, now),
    breaches: slaBreaches(versions, schedule, now),
  };
}
