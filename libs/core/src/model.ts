/** Blockvault's domain model: repositories, versions, blocks and per-backup statistics. */
import { InvalidArgumentError, VersionNotFoundError } from './errors.ts';

export const HASH_ALGORITHMS = ['blake3', 'sha256', 'sha512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** Fixed for a repository's life when it is created. */
export interface RepositoryConfig {
  readonly formatVersion: 1;
  /** @default 'blake3' */
  readonly hash: HashAlgorithm;
  /** Bytes per block. @default 4194304 (4 MiB) */
  readonly blockSize: number;
  /** Blocks per block-map segment (see libs/core/README.md). @default 256 */
  readonly blocksPerSegment: number;
  /** `rm` without --force refuses versions younger than this. @default 0 */
  readonly disallowRmWhenYoungerThanDays: number;
  readonly createdAt: string;
}

export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;
export const DEFAULT_BLOCKS_PER_SEGMENT = 256;

export interface BackupStats {
  bytesRead: number;
  blocksRead: number;
  bytesWritten: number;
  blocksWritten: number;
  bytesDedup: number;
  blocksDedup: number;
  bytesSparse: number;
  blocksSparse: number;
  bytesChecked: number;
  blocksChecked: number;
  durationSeconds: number;
}

export function emptyStats(): BackupStats {
  return {
    bytesRead: 0,
    blocksRead: 0,
    bytesWritten: 0,
    blocksWritten: 0,
    bytesDedup: 0,
    blocksDedup: 0,
    bytesSparse: 0,
    blocksSparse: 0,
    bytesChecked: 0,
    blocksChecked: 0,
    durationSeconds: 0,
  };
}

export interface Version {
  readonly uid: string;
  /** The volume's name, e.g. `vm1`. */
  readonly name: string;
  readonly snapshotName: string;
  readonly date: Date;
  /** Number of blocks. */
  readonly size: number;
  readonly sizeBytes: number;
  /** True only once every block is recorded, and while no scrub or restore found damage. */
  readonly valid: boolean;
  readonly protected: boolean;
  readonly tags: readonly string[];
  readonly expire: Date | null;
  /** Stats of the backup run that wrote this version (the last run, for a continued one). */
  readonly stats: BackupStats | null;
}

/** A version as JSON (CLI `--json`, exports, events): camelCase, dates as ISO 8601. */
export interface VersionJson {
  uid: string;
  name: string;
  snapshotName: string;
  date: string;
  size: number;
  sizeBytes: number;
  valid: boolean;
  protected: boolean;
  tags: string[];
  expire: string | null;
}

export function versionToJson(v: Version): VersionJson {
  return {
    uid: v.uid,
    name: v.name,
    snapshotName: v.snapshotName,
    date: v.date.toISOString(),
    size: v.size,
    sizeBytes: v.sizeBytes,
    valid: v.valid,
    protected: v.protected,
    tags: [...v.tags],
    expire: v.expire ? v.expire.toISOString() : null,
  };
}

/** Where one block's data lives: a blob in the blob store, found by the block's checksum. */
export interface BlobRef {
  readonly checksum: Buffer;
  readonly uid: string;
  readonly size: number;
  readonly valid: boolean;
}

/** One block of a version, as `show` reports it. Sparse blocks have no uid and no checksum. */
export interface BlockInfo {
  readonly id: number;
  readonly uid: string | null;
  readonly checksum: string | null;
  readonly size: number;
  readonly valid: boolean;
}

export function blockCount(sizeBytes: number, blockSize: number): number {
  return Math.ceil(sizeBytes / blockSize);
}

export function blockLength(id: number, sizeBytes: number, blockSize: number): number {
  return Math.min(blockSize, sizeBytes - id * blockSize);
}

/** Shortest uid prefix that `matchVersion` takes. */
export const MIN_UID_PREFIX = 4;

/**
 * The version whose uid is `ref` or begins with it (at least MIN_UID_PREFIX characters), as
 * git, docker and restic take short ids. @throws VersionNotFoundError, InvalidArgumentError
 */
export function matchVersion<V extends { readonly uid: string }>(versions: readonly V[], ref: string): V {
  const exact = versions.find((v) => v.uid === ref);
  if (exact) return exact;
  const matches = ref ? versions.filter((v) => v.uid.startsWith(ref)) : [];
  if (matches.length === 0) throw new VersionNotFoundError(ref);
  if (ref.length < MIN_UID_PREFIX)
    throw new InvalidArgumentError(`version ${ref}: give at least ${MIN_UID_PREFIX} characters of the uid (as \`blockvault ls\` shows it)`);
  if (matches.length === 1) return matches[0]!;
  const shown = matches.slice(0, 3).map((v) => v.uid);
  throw new InvalidArgumentError(
    `version ${ref} is ambiguous: ${matches.length} versions begin with it (${shown.join(', ')}${matches.length > 3 ? ', ...' : ''}); give more of the uid`,
  );
}
