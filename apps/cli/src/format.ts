/**
 * What a person reads: one unit system (binary: KiB, MiB, GiB), one style for dates (UTC, to the
 * second), durations and rates, and borderless tables that fit 100 columns (long versions' uids
 * shortened to 8 characters, which every command accepts as a prefix). `--json` keeps the exact
 * numbers and full uids; those shapes live with the commands and in @blockvault/core.
 */
import Table from 'cli-table3';
import type { BackupStats, BlockInfo, BlockSummary, CleanupResult, DiskUsage, ScrubResult, Version } from '@blockvault/core';

export { versionToJson as versionJson } from '@blockvault/core';
export { restoreResultToJson as restoreJson } from '@blockvault/core';

/** The width human output fits. */
export const WIDTH = 100;

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** `0.42 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function duration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** `312.4 MiB/s`; `-` when no time passed. */
export function rate(n: number, seconds: number): string {
  return seconds > 0 ? `${bytes(Math.round(n / seconds))}/s` : '-';
}

/** `2026-12-01 14:43:15` (UTC, as every date the CLI prints). */
export function when(date: Date | string | null): string {
  if (date === null || date === '') return '-';
  return new Date(date).toISOString().slice(0, 19).replace('T', ' ');
}

/** A version's uid as tables show it: the first 8 characters (a prefix every command accepts). */
export function shortUid(uid: string): string {
  return uid.slice(0, 8);
}

/** `1 block`, `2 blocks`: a count and its noun, singular when one. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function blocks(n: number): string {
  return count(n, 'block');
}

/**
 * A borderless table (headers in capitals, two spaces between columns) whose `wrap` column is
 * narrowed, wrapping its text, so that the table fits WIDTH.
 */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[], wrap?: number): string {
  const cells = rows.map((r) => r.map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => longestLine(r[i] ?? ''))) + 2);
  if (wrap !== undefined) {
    const rest = widths.reduce((a, b) => a + b, 0) - widths[wrap]!;
    widths[wrap] = Math.max(Math.min(widths[wrap]!, WIDTH - rest), head[wrap]!.length + 2, 12);
  }
  const t = new Table({
    head: head.map((h) => h.toUpperCase()),
    colWidths: widths,
    wordWrap: true,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2, compact: true },
  });
  t.push(...cells);
  return t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

function longestLine(text: string): number {
  return Math.max(...text.split('\n').map((l) => l.length));
}

/** `valid`, `incomplete` (its backup never finished), `damaged` (a scrub or restore found rot). */
export function versionState(v: Pick<Version, 'valid' | 'stats' | 'protected'>, known = true): string {
  const state = v.valid ? 'valid' : !known ? 'invalid' : v.stats ? 'damaged' : 'incomplete';
  return v.protected ? `${state}, protected` : state;
}

/**
 * Versions, oldest first. `statsKnown` false: the versions came without their stats (the job
 * API's ListVersions), so an invalid one is only called invalid.
 */
export function versionsTable(versions: readonly Version[], statsKnown = true): string {
  if (versions.length === 0) return 'no versions';
  const snapshots = versions.some((v) => v.snapshotName);
  const expiring = versions.some((v) => v.expire);
  const head = ['uid', 'name', 'date (utc)', 'size', 'state', ...(snapshots ? ['snapshot'] : []), ...(expiring ? ['expires'] : []), 'tags'];
  const rows = versions.map((v) => [
    shortUid(v.uid),
    v.name,
    when(v.date),
    bytes(v.sizeBytes),
    versionState(v, statsKnown),
    ...(snapshots ? [v.snapshotName || '-'] : []),
    ...(expiring ? [when(v.expire)] : []),
    v.tags.join(', ') || '-',
  ]);
  return `${table(head, rows, head.length - 1)}\n${summaryLine(versions)}`;
}

function summaryLine(versions: readonly Version[]): string {
  const invalid = versions.filter((v) => !v.valid).length;
  const total = versions.reduce((a, v) => a + v.sizeBytes, 0);
  return `${count(versions.length, 'version')} of ${bytes(total)}${invalid ? `, ${invalid} not valid` : ''}`;
}

/** A backup's statistics in one line. */
export function statsText(s: BackupStats): string {
  return [
    `read ${bytes(s.bytesRead)} in ${duration(s.durationSeconds)} (${rate(s.bytesRead, s.durationSeconds)})`,
    `new ${bytes(s.bytesWritten)}`,
    `deduplicated ${bytes(s.bytesDedup)}`,
    `sparse ${bytes(s.bytesSparse)}`,
    ...(s.blocksChecked > 0 ? [`checked ${bytes(s.bytesChecked)}`] : []),
  ].join(', ');
}

export function statsTable(rows: readonly { version: Version; stats: BackupStats }[]): string {
  if (rows.length === 0) return 'no backup stats';
  return table(
    ['uid', 'date (utc)', 'read', 'new', 'dedup', 'sparse', 'time', 'rate'],
    rows.map(({ version: v, stats: s }) => [
      shortUid(v.uid),
      when(v.date),
      bytes(s.bytesRead),
      bytes(s.bytesWritten),
      bytes(s.bytesDedup),
      bytes(s.bytesSparse),
      duration(s.durationSeconds),
      rate(s.bytesRead, s.durationSeconds),
    ]),
  );
}

/** `show`: the version, then its blocks by state; the block list only when asked for. */
export function showText(version: Version, summary: BlockSummary, list?: readonly BlockInfo[]): string {
  const complete = summary.unrecorded.blocks === 0;
  const fields: [string, string][] = [
    ['uid', version.uid],
    ['name', version.name],
    ['snapshot', version.snapshotName || '-'],
    ['date', `${when(version.date)} UTC`],
    ['size', `${bytes(version.sizeBytes)} (${blocks(version.size)})`],
    ['state', complete ? versionState(version) : versionState({ ...version, stats: null })],
    ['tags', version.tags.join(', ') || '-'],
    ['expires', version.expire ? when(version.expire) : 'never'],
    ...(version.stats ? ([['backup', statsText(version.stats)]] as [string, string][]) : []),
  ];
  const rows = (['unique', 'deduplicated', 'sparse', 'invalid', 'unrecorded'] as const)
    .filter((k) => k !== 'unrecorded' || !complete)
    .map((k) => [k, summary[k].blocks, bytes(summary[k].bytes)]);
  const parts = [fields.map(([k, v]) => `${k.padEnd(9)} ${v}`).join('\n'), table(['blocks', 'count', 'size'], rows)];
  if (list) parts.push(blocksTable(list));
  if (!complete)
    parts.push(
      `INCOMPLETE: ${version.size - summary.unrecorded.blocks} of ${blocks(version.size)} recorded; its backup did not finish (blockvault backup SOURCE ${version.name} --continue ${version.uid})`,
    );
  else if (!list) parts.push('(the block list: show --blocks)');
  return parts.join('\n\n');
}

export function blocksTable(list: readonly BlockInfo[]): string {
  return table(
    ['block', 'blob', 'checksum', 'size', 'state'],
    list.map((b) => [
      b.id,
      b.uid ?? '-',
      b.checksum ? `${b.checksum.slice(0, 16)}…` : '-',
      bytes(b.size),
      b.checksum === null ? 'sparse' : b.valid ? 'valid' : 'INVALID',
    ]),
  );
}

export function duTable(rows: readonly DiskUsage[]): string {
  if (rows.length === 0) return 'no versions';
  return `${table(
    ['uid', 'name', 'size', 'state', 'real', 'sparse', 'dedup', 'unique', 'shared', 'exclusive'],
    rows.map((r) => [
      shortUid(r.uid),
      r.name,
      bytes(r.sizeBytes),
      r.complete ? 'complete' : `INCOMPLETE (${bytes(r.unrecordedBytes)} not backed up)`,
      bytes(r.realBytes),
      bytes(r.sparseBytes),
      bytes(r.dedupBytes),
      bytes(r.uniqueBytes),
      bytes(r.sharedBytes),
      bytes(r.exclusiveBytes),
    ]),
    3,
  )}\nreal: not sparse; unique: distinct blobs it references; shared: of those, also referenced elsewhere;\nexclusive: what removing this version alone (and a cleanup) would free`;
}

export function scrubText(r: ScrubResult): string {
  const state = r.incomplete
    ? 'INCOMPLETE (its backup did not finish)'
    : r.damagedBlocks.length > 0
      ? `DAMAGED: ${blocks(r.damagedBlocks.length)} (${listIds(r.damagedBlocks)})`
      : 'ok';
  const source = r.sourceMismatches.length > 0 ? `; differs from the source at ${listIds(r.sourceMismatches)}` : '';
  return `${r.deep ? 'deep-scrub' : 'scrub'} ${r.uid}: ${blocks(r.blocksChecked)} (${bytes(r.bytesChecked)}) checked: ${state}${source}; ${r.valid ? 'valid' : 'not valid'}`;
}

/** Block ids, the first 10 then a count. */
function listIds(ids: readonly number[]): string {
  const shown = ids.slice(0, 10).join(', ');
  return ids.length > 10 ? `blocks ${shown} and ${ids.length - 10} more` : `block${ids.length === 1 ? '' : 's'} ${shown}`;
}

export function cleanupText(
  r: Pick<
    CleanupResult,
    'dryRun' | 'blobsDeleted' | 'bytesDeleted' | 'orphansDeleted' | 'strayObjectsDeleted' | 'segmentsDeleted' | 'spared'
  >,
): string {
  const copies = `${r.orphansDeleted} superseded ${r.orphansDeleted === 1 ? 'copy' : 'copies'}`;
  return `${r.dryRun ? 'would delete' : 'deleted'} ${count(r.blobsDeleted, 'blob')} (${bytes(r.bytesDeleted)}), ${copies}, ${count(r.strayObjectsDeleted, 'stray object')}, ${count(r.segmentsDeleted, 'segment')}; ${r.spared} spared (in use by running backups)`;
}

/** What `enforce` decided, one version a line. */
export function enforceText(
  decisions: readonly {
    version: { uid: string; name: string; date: Date | string };
    keep: boolean;
    removed: boolean;
    reasons: readonly string[];
  }[],
  dryRun: boolean,
): string {
  if (decisions.length === 0) return 'no versions';
  return table(
    ['action', 'uid', 'name', 'date (utc)', 'why'],
    decisions.map((d) => [
      d.keep ? 'keep' : dryRun ? 'would remove' : d.removed ? 'removed' : 'kept',
      shortUid(d.version.uid),
      d.version.name,
      when(d.version.date),
      d.reasons.join('; ') || '-',
    ]),
    4,
  );
}

/** A schedule's period as `--interval` takes it: `1d`, `12h`, `90s`. */
export function period(seconds: number): string {
  for (const [unit, size] of [
    ['w', 604_800],
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

export function schedulesTable(
  schedules: readonly {
    name: string;
    scheduler: string;
    intervalSeconds: number;
    keep: number;
    slaSeconds: number;
    source?: string;
    retention?: string;
  }[],
): string {
  if (schedules.length === 0) return 'no schedules';
  return table(
    ['name', 'scheduler', 'every', 'keep', 'sla', 'retention', 'source'],
    schedules.map((s) => [
      s.name,
      s.scheduler,
      period(s.intervalSeconds),
      s.keep,
      period(s.slaSeconds),
      s.retention ?? '-',
      s.source ?? '-',
    ]),
    6,
  );
}

/** Jobs of a deployment, as `jobs` lists them. */
export function jobsTable(
  jobs: readonly {
    id: string;
    type: string;
    state: string;
    submitted: string;
    versionUid: string | null;
    progress: { blocksDone: number; blocksTotal: number } | null;
    error: string | null;
  }[],
): string {
  if (jobs.length === 0) return 'no jobs';
  return table(
    ['id', 'type', 'state', 'submitted (utc)', 'version', 'note'],
    jobs.map((j) => [
      j.id,
      j.type,
      j.state,
      when(j.submitted),
      j.versionUid ? shortUid(j.versionUid) : '-',
      j.error ??
        (j.state === 'running' && j.progress && j.progress.blocksTotal > 0
          ? `${Math.floor((100 * j.progress.blocksDone) / j.progress.blocksTotal)}% of ${blocks(j.progress.blocksTotal)}`
          : '-'),
    ]),
    5,
  );
}
