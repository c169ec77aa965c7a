/** Human tables and `--json` shapes (camelCase, dates as ISO 8601). */
import Table from 'cli-table3';
import type { BackupStats, BlockInfo, DiskUsage, Version } from '@blockvault/core';

export { versionToJson as versionJson } from '@blockvault/core';

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

function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  t.push(...rows.map((r) => r.map(String)));
  return t.toString();
}

export function versionsTable(versions: readonly Version[]): string {
  if (versions.length === 0) return 'no versions';
  return table(
    ['date', 'name', 'snapshot', 'size', 'uid', 'valid', 'protected', 'tags', 'expire'],
    versions.map((v) => [
      v.date.toISOString(),
      v.name,
      v.snapshotName,
      bytes(v.sizeBytes),
      v.uid,
      v.valid ? 'yes' : 'no',
      v.protected ? 'yes' : 'no',
      v.tags.join(','),
      v.expire ? v.expire.toISOString() : '',
    ]),
  );
}

export function statsTable(rows: readonly { version: Version; stats: BackupStats }[]): string {
  if (rows.length === 0) return 'no backup stats';
  return table(
    ['date', 'uid', 'name', 'read', 'written', 'dedup', 'sparse', 'checked', 'seconds', 'MB/s'],
    rows.map(({ version: v, stats: s }) => [
      v.date.toISOString(),
      v.uid,
      v.name,
      bytes(s.bytesRead),
      bytes(s.bytesWritten),
      bytes(s.bytesDedup),
      bytes(s.bytesSparse),
      bytes(s.bytesChecked),
      s.durationSeconds.toFixed(2),
      s.durationSeconds > 0 ? (v.sizeBytes / s.durationSeconds / 1e6).toFixed(0) : '-',
    ]),
  );
}

export function statsText(s: BackupStats): string {
  return [
    `read ${bytes(s.bytesRead)} (${s.blocksRead} blocks)`,
    `written ${bytes(s.bytesWritten)} (${s.blocksWritten})`,
    `dedup ${bytes(s.bytesDedup)} (${s.blocksDedup})`,
    `sparse ${bytes(s.bytesSparse)} (${s.blocksSparse})`,
    `checked ${bytes(s.bytesChecked)} (${s.blocksChecked})`,
    `in ${s.durationSeconds.toFixed(2)} s`,
  ].join(', ');
}

export function blocksTable(blocks: readonly BlockInfo[]): string {
  return table(
    ['id', 'uid', 'checksum', 'size', 'valid'],
    blocks.map((b) => [b.id, b.uid ?? '(sparse)', b.checksum ?? '', b.size, b.valid ? 'yes' : 'no']),
  );
}

export function duTable(rows: readonly DiskUsage[]): string {
  return table(
    ['uid', 'name', 'size', 'state', 'real', 'sparse', 'dedup', 'unique', 'shared', 'exclusive'],
    rows.map((r) => [
      r.uid,
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
  );
}

export { restoreResultToJson as restoreJson } from '@blockvault/core';
