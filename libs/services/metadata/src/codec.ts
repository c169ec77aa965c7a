/**
 * The port's values and the metadata service's messages, both directions. Times travel as
 * RFC 3339 strings; a malformed one is refused as INVALID_ARGUMENT before any store call.
 */
import {
  InvalidArgumentError,
  type BackupSession,
  type BackupStats,
  type BlobRecord,
  type BlobRef,
  type RepositoryConfig,
  type Version,
} from '@blockvault/core';
import type { metadataPb as pb } from '@blockvault/proto';

export function time(text: string, field: string): Date {
  const d = new Date(text);
  if (text === '' || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError(`${field} must be an RFC 3339 time, got ${JSON.stringify(text)}`);
  return d;
}

export function optionalTime(text: string, field: string): Date | null {
  return text === '' ? null : time(text, field);
}

export const iso = (d: Date): string => d.toISOString();

export function configToPb(c: RepositoryConfig): pb.RepositoryConfig {
  return {
    formatVersion: c.formatVersion,
    hash: c.hash,
    blockSize: c.blockSize,
    blocksPerSegment: c.blocksPerSegment,
    disallowRmWhenYoungerThanDays: c.disallowRmWhenYoungerThanDays,
    createdAt: c.createdAt,
  };
}

export function configFromPb(c: pb.RepositoryConfig): RepositoryConfig {
  if (c.formatVersion !== 1)
    throw new InvalidArgumentError(`repository format ${c.formatVersion} is not supported (this build knows format 1)`);
  if (c.hash !== 'blake3' && c.hash !== 'sha256' && c.hash !== 'sha512')
    throw new InvalidArgumentError(`unknown hash ${JSON.stringify(c.hash)}`);
  return {
    formatVersion: 1,
    hash: c.hash,
    blockSize: c.blockSize,
    blocksPerSegment: c.blocksPerSegment,
    disallowRmWhenYoungerThanDays: c.disallowRmWhenYoungerThanDays,
    createdAt: c.createdAt,
  };
}

export const statsToPb = (s: BackupStats): pb.VersionStats => ({ ...s });
export const statsFromPb = (s: pb.VersionStats): BackupStats => ({ ...s });

export function versionToPb(v: Version): pb.VersionRecord {
  return {
    uid: v.uid,
    name: v.name,
    snapshotName: v.snapshotName,
    date: iso(v.date),
    size: v.size,
    sizeBytes: v.sizeBytes,
    valid: v.valid,
    protected: v.protected,
    tags: [...v.tags],
    expire: v.expire ? iso(v.expire) : '',
    ...(v.stats ? { stats: statsToPb(v.stats) } : {}),
  };
}

export function versionFromPb(v: pb.VersionRecord): Version {
  return {
    uid: v.uid,
    name: v.name,
    snapshotName: v.snapshotName,
    date: time(v.date, 'date'),
    size: v.size,
    sizeBytes: v.sizeBytes,
    valid: v.valid,
    protected: v.protected,
    tags: v.tags,
    expire: optionalTime(v.expire, 'expire'),
    stats: v.stats ? statsFromPb(v.stats) : null,
  };
}

export const blobToPb = (b: BlobRef): pb.BlobRef => ({ checksum: b.checksum, uid: b.uid, size: b.size, valid: b.valid });
export const blobFromPb = (b: pb.BlobRef): BlobRef => ({ checksum: b.checksum, uid: b.uid, size: b.size, valid: b.valid });

export function sessionToPb(s: BackupSession): pb.BackupSession {
  return { id: s.id, versionUid: s.versionUid, baseUid: s.baseUid ?? '', started: iso(s.started), expires: iso(s.expires) };
}

export function sessionFromPb(s: pb.BackupSession): BackupSession {
  return {
    id: s.id,
    versionUid: s.versionUid,
    baseUid: s.baseUid || null,
    started: time(s.started, 'started'),
    expires: time(s.expires, 'expires'),
  };
}

export function blobRecordToPb(r: BlobRecord): pb.BlobRecord {
  return {
    blob: blobToPb(r),
    state: r.state,
    created: iso(r.created),
    touched: iso(r.touched),
    unreferencedSince: r.unreferencedSince ? iso(r.unreferencedSince) : '',
  };
}

export function blobRecordFromPb(r: pb.BlobRecord): BlobRecord {
  if (!r.blob) throw new InvalidArgumentError('blob record without blob');
  if (r.state !== 'live' && r.state !== 'deleting') throw new InvalidArgumentError(`unknown blob state ${JSON.stringify(r.state)}`);
  return {
    ...blobFromPb(r.blob),
    state: r.state,
    created: time(r.created, 'created'),
    touched: time(r.touched, 'touched'),
    unreferencedSince: optionalTime(r.unreferencedSince, 'unreferencedSince'),
  };
}

/** Splits a long list into requests of at most `size` items (message limits). */
export function* batches<T>(items: readonly T[], size: number): Iterable<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
