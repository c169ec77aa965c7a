/**
 * The ports: what the engines need from the outside world. Adapters (embedded SQLite and files,
 * MongoDB, S3, NATS, ...) implement them in their own libraries and translate their SDK's errors
 * into this library's typed errors.
 */
import type { SegmentPointer } from './block-map.ts';
import type { TransformSpec } from './blob-codec.ts';
import type { Hint } from './hints.ts';
import type { BackupStats, BlobRef, HashAlgorithm, RepositoryConfig, Version } from './model.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface VersionFilter {
  readonly name?: string;
  readonly tag?: string;
  readonly snapshotName?: string;
}

export interface VersionPatch {
  readonly valid?: boolean;
  readonly protected?: boolean;
  readonly expire?: Date | null;
  readonly stats?: BackupStats;
  readonly tags?: readonly string[];
}

/** One segment pointer of a version. `data` is given when the segment may be new to the store. */
export interface SegmentEntry extends SegmentPointer {
  readonly segNo: number;
  readonly data?: Buffer;
}

/** A running backup, registered so that cleanup spares what it may still reference. */
export interface BackupSession {
  readonly id: string;
  readonly versionUid: string;
  /** The version it takes unchanged segments from; `rm` refuses it while the session lives. */
  readonly baseUid: string | null;
  readonly started: Date;
  readonly expires: Date;
}

/** A blob row as cleanup sees it. */
export interface BlobRecord extends BlobRef {
  /** 'deleting': cleanup has condemned it; backups must not deduplicate against it. */
  readonly state: 'live' | 'deleting';
  readonly created: Date;
  /** Last time a backup deduplicated against it. */
  readonly touched: Date;
  /** When cleanup first found it unreferenced; null while referenced. */
  readonly unreferencedSince: Date | null;
}

/** Fencing for writes of a backup: the commit fails if its session is gone or expired. */
export interface CommitFence {
  readonly sessionId: string;
  readonly now: Date;
}

/** The repository's fixed config and its other settings (schedules, ...). */
export interface RepositorySettings {
  getConfig(): Promise<RepositoryConfig | undefined>;
  /** Stores `config` unless one exists; returns the one in force. */
  initConfig(config: RepositoryConfig): Promise<RepositoryConfig>;
  /** Repository settings other than the fixed config (schedules, ...), as JSON values. */
  getSetting(key: string): Promise<unknown>;
  putSetting(key: string, value: unknown): Promise<void>;
}

/** Versions: what was backed up, when, and in what state. */
export interface VersionCatalog {
  createVersion(version: Version): Promise<void>;
  /** @throws VersionNotFoundError */
  getVersion(uid: string): Promise<Version>;
  listVersions(filter?: VersionFilter): Promise<Version[]>;
  /** @throws VersionNotFoundError */
  updateVersion(uid: string, patch: VersionPatch): Promise<void>;
  /**
   * Forgets the version and its segment pointers; segments and blobs stay for cleanup.
   * @throws VersionInUseError while a live backup session uses it as its base
   */
  deleteVersion(uid: string, now: Date): Promise<void>;
}

/**
 * A version's block map: a list of segments (fixed runs of block checksums, content-addressed and
 * shared between versions).
 */
export interface BlockMapStore {
  /** segNo -> pointer, for every segment recorded for the version. */
  getVersionSegments(uid: string): Promise<Map<number, SegmentPointer>>;
  /** Segment bytes in the order of `ids`. @throws NotFoundError when one is missing */
  getSegments(ids: readonly Buffer[]): Promise<Buffer[]>;
  /**
   * Records segments of a version and the blobs they newly reference, atomically or in an
   * order that is safe to repeat: blob rows, then segments, then the version's pointers.
   * Every blob in `newBlobs` must already be durable in the blob store.
   */
  commitSegments(versionUid: string, entries: readonly SegmentEntry[], newBlobs: readonly BlobRef[], fence?: CommitFence): Promise<void>;
}

/** Blobs by checksum: deduplication and damage. */
export interface BlobIndex {
  /** The blob for each checksum, in order; undefined where none is known. */
  lookupBlobs(checksums: readonly Buffer[]): Promise<(BlobRef | undefined)[]>;
  /**
   * Lookup for deduplication: each live, valid blob found is touched (its `touched` set to `now`,
   * atomically with the check that it is live), so that cleanup spares it. Blobs cleanup is
   * deleting are reported as undefined: the caller stores a fresh copy.
   */
  claimBlobs(checksums: readonly Buffer[], now: Date): Promise<(BlobRef | undefined)[]>;
  listInvalidChecksums(): Promise<Buffer[]>;
  /**
   * Marks the blob invalid, and every version whose block map references its checksum.
   * Returns the uids of those versions.
   */
  invalidateBlob(checksum: Buffer, uid: string): Promise<string[]>;
}

/** Running backups, registered so that cleanup spares what they may still reference. */
export interface SessionStore {
  openSession(session: BackupSession): Promise<void>;
  /** @throws SessionExpiredError when the session is gone (cleanup expired it) */
  renewSession(id: string, expires: Date, now: Date): Promise<void>;
  closeSession(id: string): Promise<void>;
  /** Removes sessions that expired before `now`; returns the live ones. */
  liveSessions(now: Date): Promise<BackupSession[]>;
}

/** What cleanup reads and changes (see libs/core/README.md, "Cleanup"). */
export interface CleanupStore {
  /** Ids of every segment some version points to. */
  referencedSegmentIds(): Promise<Buffer[]>;
  /** Drops segments no version points to; returns how many. */
  deleteUnreferencedSegments(): Promise<number>;
  listBlobRecords(): Promise<BlobRecord[]>;
  /** Sets `unreferencedSince` where unset (first arg) and clears it (second arg). */
  markUnreferenced(unreferenced: readonly Buffer[], referenced: readonly Buffer[], since: Date): Promise<void>;
  /**
   * Moves a live blob to 'deleting' if it still has `uid`, was created and last touched before
   * `cutoff`. Returns false when any of that no longer holds (a backup claimed it meanwhile).
   */
  condemnBlob(checksum: Buffer, uid: string, cutoff: Date): Promise<boolean>;
  /** Removes a 'deleting' blob row if it still has `uid` (a fresh copy may have replaced it). */
  forgetBlob(checksum: Buffer, uid: string): Promise<void>;
  /** Blob uids replaced by fresh copies (repairs, re-uploads), no longer in any row. */
  listOrphans(): Promise<{ uid: string; since: Date }[]>;
  forgetOrphans(uids: readonly string[]): Promise<void>;
}

/**
 * The metadata store: every port above, kept by one backend (SQLite, MongoDB, the metadata
 * service) because commits and cleanup need them in one database. Engines depend on the ports
 * they use; each port has its own group in the contract suite (libs/testing/src/metadata-contract.ts).
 */
export interface MetadataStore extends RepositorySettings, VersionCatalog, BlockMapStore, BlobIndex, SessionStore, CleanupStore {
  close(): Promise<void>;
}

/**
 * Raw blob bytes by key. `put` resolves only once the blob is durable. Block blobs have hex keys;
 * version metadata documents live under `versions/<uid>` (see METADATA_KEY_PREFIX); `list` and
 * `listWithDates` without a prefix list block blobs only.
 */
export interface BlobStore {
  put(key: string, chunks: readonly Uint8Array[]): Promise<void>;
  /** @throws BlobNotFoundError */
  get(key: string): Promise<Buffer>;
  /** The stored size, or undefined when the blob does not exist. */
  stat(key: string): Promise<{ size: number } | undefined>;
  delete(keys: readonly string[]): Promise<void>;
  list(prefix?: string): AsyncIterable<string>;
  /** Keys with their last-modified time (by the store's clock), for `cleanup --full`. */
  listWithDates(prefix?: string): AsyncIterable<{ key: string; modified: Date }>;
  /**
   * A URL that lets its holder PUT or GET this one blob for `expirySeconds`, without the store's
   * credentials (an S3 presigned URL); absent where the store has no such thing (files).
   */
  presign?(method: 'PUT' | 'GET', key: string, expirySeconds: number): Promise<string>;
  close(): Promise<void>;
}

export interface Lease {
  readonly name: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Who holds it, for messages. */
  readonly owner: string;
  /** A holder that stops renewing loses the lock after this long. @default 60000 */
  readonly ttlMs?: number;
  /**
   * An owner prefix (a job's, `job:<id>#`): a holder whose owner starts with it and that has
   * missed a renewal (see `isStaleAttempt`) is taken over at once, without waiting out its lease.
   * A new attempt of a job so takes the lock its own dead attempt left; a live holder keeps it.
   */
  readonly takeOverFrom?: string;
}

export interface Locks {
  /** @throws VersionLockedError when another live holder has it */
  acquire(name: string, options: LockOptions): Promise<Lease>;
}

export interface BlockvaultEvent {
  readonly kind: string;
  readonly [key: string]: unknown;
}

export interface EventBus {
  /** Fire and forget: publishing never blocks or fails a backup. */
  publish(event: BlockvaultEvent): void;
  subscribe(kind: string | '*', handler: (event: BlockvaultEvent) => void): () => void;
  /** Waits until published events are delivered to the bus and subscriptions are active. */
  flush?(): Promise<void>;
  /** The newest `limit` events published (oldest first), each with its id and time: what a dashboard shows as recent. */
  recent?(limit: number): Promise<readonly RecentEvent[]>;
}

/** An event as the bus keeps it: its unique id (the same on a redelivery) and when it was published (RFC 3339). */
export type RecentEvent = BlockvaultEvent & { readonly id: string; readonly time: string };

/** A byte range to back up. */
export interface BlockSource {
  readonly url: string;
  readonly sizeBytes: number;
  /** Reads up to `length` bytes at `offset` into `into`; returns the bytes read. */
  read(offset: number, length: number, into: Buffer): Promise<number>;
  close(): Promise<void>;
}

/** What a scanner found at one block. */
export type ScannedBlock =
  | { readonly sparse: true }
  | {
      readonly sparse: false;
      /** The repository's hash of the block's bytes. */
      readonly digest: Buffer;
      /**
       * Stores the block's bytes (held since the scan) as blob `uid`, encoded with the job's
       * transforms; resolves once the blob is durable. Releases the bytes either way.
       * @returns the blob's stored size
       */
      store(uid: string): Promise<number>;
      /** The bytes are not needed (a duplicate). */
      release(): void;
    };

/** What a scanner needs from the repository for one job. */
export interface ScanSpec {
  readonly hash: HashAlgorithm;
  /** Blocks held at once (scanned, neither stored nor released); a scan beyond it waits. */
  readonly window: number;
  readonly blockSize: number;
  /** How new blobs are encoded (see BlobCodec.encoding). */
  readonly transforms: TransformSpec;
}

/**
 * Reads a source where the data is: tells zero blocks apart, hashes the others, holds their bytes
 * until the engine says whether to store them (new) or not (a duplicate), and stores new ones
 * from there. The engine's own one reads through a BlockSource in process; the reader service's
 * does it on the host that reaches the source, so that only digests cross the network and a new
 * block goes from there to the blob store once.
 */
export interface BlockScanner {
  readonly url: string;
  readonly sizeBytes: number;
  /** Blobs it stores land through a blob store other than the engine's own (which checks the first one). */
  readonly remote: boolean;
  /**
   * The `length` bytes at `offset`.
   * @throws InvalidArgumentError when the source has fewer bytes there (it shrank)
   */
  scan(offset: number, length: number): Promise<ScannedBlock>;
  close(): Promise<void>;
}

export interface BlockTarget {
  readonly url: string;
  /**
   * Writes `data` at `offset`. The bytes are the target's only until the returned promise
   * settles: the restore engine frees them once it resolves (releaseBuffer), so a target must
   * have copied or sent them by then, never keep a reference.
   */
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Where the target can fetch blobs itself (the reader service with the deployment's blob
   * store, opened with `placing`): fetches blob `uid`, decodes it, checks it against `checksum`
   * and writes it at `offset`. False when the blob is missing or unsound there: the engine then
   * checks with its own store and writes the block itself. Other failures throw.
   */
  place?(offset: number, length: number, blob: { readonly uid: string; readonly checksum: Buffer }): Promise<boolean>;
  /** Writes `length` zero bytes at `offset` without sending them (a remote target); else write() gets zeros. */
  zero?(offset: number, length: number): Promise<void>;
  /** Makes the target exactly `sizeBytes` long (holes where nothing was written) and durable. */
  finish(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
}

export interface OpenTargetOptions {
  readonly force: boolean;
  /** Resuming a restore: an existing target is expected. */
  readonly resume: boolean;
  readonly sizeBytes: number;
  /** What a target that fetches blobs itself needs (see BlockTarget.place); others ignore it. */
  readonly placing?: PlaceSpec;
}

/** How blobs are checked and decoded, for a target that places them itself. */
export interface PlaceSpec {
  readonly hash: HashAlgorithm;
  /** The largest block a blob decodes to. */
  readonly blockSize: number;
  /** The data keys (see BlobCodec.decoding). */
  readonly transforms: TransformSpec;
}

/** A reader service as it announces itself: where it listens and what it reaches. */
export interface ReaderEntry {
  /** Unique while it runs (host, pid, port). */
  readonly id: string;
  /** host:port its clients dial. */
  readonly address: string;
  /** Directories whose files it reads and writes; empty with no pools: every file:// and rbd:// URL. */
  readonly roots: readonly string[];
  /** RBD pools it reaches. */
  readonly pools: readonly string[];
}

/** The live reader services of a deployment (NATS KV, each entry a lease its reader renews). */
export interface ReaderDirectory {
  /** Announces a reader until `stop` (or its process dies and the entry expires). */
  announce(entry: ReaderEntry): Promise<{ stop(): Promise<void> }>;
  /** The readers whose announcements are live now. */
  live(): Promise<ReaderEntry[]>;
}

/** Sources and restore targets of one URL scheme. */
export interface IoModule {
  readonly scheme: string;
  openSource(url: URL): Promise<BlockSource>;
  openTarget(url: URL, options: OpenTargetOptions): Promise<BlockTarget>;
  /**
   * Hints the source can give itself when the user gave none (RBD's own change tracking):
   * changes since `fromSnapshot`, or with null the allocated extents. Undefined: none known.
   */
  deriveHints?(url: URL, fromSnapshot: string | null): Promise<Hint[] | undefined>;
  /**
   * Refuses a URL this module must not touch (outside its configured roots) before any I/O:
   * @throws PermissionDeniedError. Open calls check too; the job API checks on submit.
   */
  check?(url: URL): Promise<void>;
  /**
   * A scanner where the data is (the reader service's); without it, or when it answers undefined
   * (a reader that stores no blobs), the engine scans through openSource.
   */
  openScanner?(url: URL, spec: ScanSpec): Promise<BlockScanner | undefined>;
}
