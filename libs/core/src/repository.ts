/** Version lifecycle: listing, inspection, space accounting, protection, tags, expiry, removal. */
import { backup, type BackupRequest, type BackupResult } from './backup.ts';
import { cleanup, type CleanupOptions, type CleanupResult } from './cleanup.ts';
import { exportVersion, importVersion, metadataKey, recoverFromBlobStore, type ExportDocument } from './export.ts';
import { planRetention, type RetentionDecision, type RetentionRules } from './retention.ts';
import { isDue, slaBreaches, validateSchedule, type Schedule } from './schedules.ts';
import { batchScrub, scrub, type BatchScrubOptions, type ScrubOptions, type ScrubResult } from './scrub.ts';
import { digestAt, isSparseDigest, SegmentLayout } from './block-map.ts';
import type { EngineContext } from './context.ts';
import { ConflictError, InvalidArgumentError, InvalidVersionStateError, ProtectedVersionError, VersionNotFoundError } from './errors.ts';
import { blockLength, matchVersion, type BlockInfo, type Version } from './model.ts';
import type { VersionFilter } from './ports.ts';
import { restore, type RestoreRequest, type RestoreResult } from './restore.ts';
import { isValidTag } from './tags.ts';
import { VersionReader, type VersionReaderOptions } from './version-reader.ts';
import { scheduleStatus, summarizeBlocks, type BlockSummary, type RepositoryUsage, type ScheduleStatus } from './summary.ts';

export interface ListOptions extends VersionFilter {
  /** Only versions whose expire date has passed. */
  readonly expired?: boolean;
}

/** Space used by one version. Exact even when a block repeats inside the version. */
/** What a version's recorded segments hold. */
interface Recorded {
  readonly blobs: Map<string, number>;
  readonly realBytes: number;
  readonly recordedBytes: number;
  readonly complete: boolean;
}

export interface DiskUsage {
  readonly uid: string;
  readonly name: string;
  readonly sizeBytes: number;
  /** Whether every block is recorded; an incomplete version's unrecorded blocks count nowhere below. */
  readonly complete: boolean;
  /** Bytes of blocks no recorded segment covers yet (0 when complete). */
  readonly unrecordedBytes: number;
  /** Bytes of non-sparse blocks. */
  readonly realBytes: number;
  /** Bytes of recorded sparse (all-zero) blocks. */
  readonly sparseBytes: number;
  /** Bytes saved because a block repeats inside this version. */
  readonly dedupBytes: number;
  /** Bytes of distinct blobs this version references. */
  readonly uniqueBytes: number;
  /** Of those, bytes of blobs other versions reference too. */
  readonly sharedBytes: number;
  /** Of those, bytes freed if this version alone were removed (and cleaned up). */
  readonly exclusiveBytes: number;
}

const DAY_MS = 86_400_000;

export class Repository {
  readonly ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.ctx = ctx;
  }

  backup(req: BackupRequest): Promise<BackupResult> {
    return backup(this.ctx, req);
  }

  restore(req: RestoreRequest): Promise<RestoreResult> {
    return restore(this.ctx, req);
  }

  /** Random access to a complete, valid version (see VersionReader). */
  openReader(uid: string, options?: VersionReaderOptions): Promise<VersionReader> {
    return VersionReader.open(this.ctx, uid, options);
  }

  cleanup(options?: CleanupOptions): Promise<CleanupResult> {
    return cleanup(this.ctx, options);
  }

  scrub(uid: string, options?: ScrubOptions): Promise<ScrubResult> {
    return scrub(this.ctx, uid, options);
  }

  batchScrub(options?: BatchScrubOptions): Promise<ScrubResult[]> {
    return batchScrub(this.ctx, options);
  }

  exportVersion(uid: string): Promise<ExportDocument> {
    return exportVersion(this.ctx, uid);
  }

  importVersion(doc: ExportDocument): Promise<Version> {
    return importVersion(this.ctx, doc);
  }

  /**
   * Re-wraps every data key under the first configured master key; blobs are not rewritten.
   * Afterwards the older master keys can be dropped from the key file.
   */
  async rekey(): Promise<{ masterKey: string; rewrapped: string[]; alreadyCurrent: string[] }> {
    const keyring = this.ctx.codec.keyring;
    if (!keyring)
      throw new InvalidArgumentError(
        'rekey needs the master keys: set BLOCKVAULT_ENCRYPTION_KEY_FILE to a file whose first line is the new key and which still holds the old ones',
      );
    const result = await keyring.rekey();
    this.ctx.events.publish({ kind: 'keys.rekeyed', masterKey: keyring.currentMasterId, rewrapped: result.rewrapped.length });
    return { masterKey: keyring.currentMasterId, ...result };
  }

  recover(): Promise<{ imported: string[]; skipped: string[] }> {
    return recoverFromBlobStore(this.ctx);
  }

  /**
   * Applies retention rules to each volume (or one). Removed versions are forgotten; their blobs
   * go with the next cleanup. A version locked by a running job is kept this time.
   */
  async enforce(
    rules: RetentionRules,
    options: { name?: string; dryRun?: boolean; timeZone?: string } = {},
  ): Promise<(RetentionDecision & { removed: boolean })[]> {
    const versions = await this.ctx.metadata.listVersions(options.name !== undefined ? { name: options.name } : {});
    const byName = Map.groupBy(versions, (v) => v.name);
    const now = this.ctx.clock.now();
    const out: (RetentionDecision & { removed: boolean })[] = [];
    for (const [, mine] of [...byName].sort((a, b) => a[0].localeCompare(b[0]))) {
      for (const d of planRetention(mine, rules, now, options.timeZone ?? 'UTC')) {
        let removed = false;
        if (!d.keep && !options.dryRun) {
          try {
            await this.rm(d.version.uid, { force: true });
            removed = true;
          } catch (err) {
            if (!(err instanceof ConflictError)) throw err;
            d.reasons.push(`kept this time: ${err.message}`);
          }
        }
        out.push({ ...d, removed });
      }
    }
    return out;
  }

  async schedules(): Promise<Schedule[]> {
    return ((await this.ctx.metadata.getSetting('schedules')) as Schedule[] | undefined) ?? [];
  }

  async setSchedule(schedule: Schedule): Promise<Schedule[]> {
    validateSchedule(schedule);
    const others = (await this.schedules()).filter((s) => !(s.name === schedule.name && s.scheduler === schedule.scheduler));
    const all = [...others, schedule].sort((a, b) => a.name.localeCompare(b.name) || a.scheduler.localeCompare(b.scheduler));
    await this.ctx.metadata.putSetting('schedules', all);
    return all;
  }

  async removeSchedule(name: string, scheduler: string): Promise<Schedule[]> {
    const all = await this.schedules();
    const left = all.filter((s) => !(s.name === name && s.scheduler === scheduler));
    if (left.length === all.length) throw new InvalidArgumentError(`no schedule ${scheduler} for ${name}`);
    await this.ctx.metadata.putSetting('schedules', left);
    return left;
  }

  /** Schedules whose next backup is due now (or within 30 s). */
  async due(name?: string): Promise<Schedule[]> {
    const versions = await this.ctx.metadata.listVersions();
    const now = this.ctx.clock.now();
    return (await this.schedules()).filter((s) => (name === undefined || s.name === name) && isDue(versions, s, now));
  }

  /** Every schedule (of `name`), when it is due and its SLA breaches. */
  async scheduleStatuses(name?: string): Promise<ScheduleStatus[]> {
    const versions = await this.ctx.metadata.listVersions();
    const now = this.ctx.clock.now();
    return (await this.schedules()).filter((s) => name === undefined || s.name === name).map((s) => scheduleStatus(versions, s, now));
  }

  async sla(name?: string): Promise<{ schedule: Schedule; breaches: string[] }[]> {
    const versions = await this.ctx.metadata.listVersions();
    const now = this.ctx.clock.now();
    return (await this.schedules())
      .filter((s) => name === undefined || s.name === name)
      .map((schedule) => ({ schedule, breaches: slaBreaches(versions, schedule, now) }))
      .filter((r) => r.breaches.length > 0);
  }

  async ls(options: ListOptions = {}): Promise<Version[]> {
    const versions = await this.ctx.metadata.listVersions(options);
    const now = this.ctx.clock.now();
    const shown = options.expired ? versions.filter((v) => v.expire !== null && v.expire <= now) : versions;
    return shown.sort((a, b) => a.date.getTime() - b.date.getTime() || a.uid.localeCompare(b.uid));
  }

  getVersion(uid: string): Promise<Version> {
    return this.ctx.metadata.getVersion(uid);
  }

  /** A version by its uid or a unique prefix of it (as tables show uids). @throws VersionNotFoundError, InvalidArgumentError when ambiguous */
  async findVersion(ref: string): Promise<Version> {
    try {
      return await this.ctx.metadata.getVersion(ref);
    } catch (err) {
      if (!(err instanceof VersionNotFoundError)) throw err;
    }
    return matchVersion(await this.ctx.metadata.listVersions(), ref);
  }

  async blocks(uid: string): Promise<BlockInfo[]> {
    const version = await this.ctx.metadata.getVersion(uid);
    const blocks: BlockInfo[] = [];
    await this.#eachBlock(version, async (first, segment, layout) => {
      const digests = Array.from({ length: segment.length / layout.digestLength }, (_, i) => digestAt(segment, i, layout.digestLength));
      const refs = await this.ctx.metadata.lookupBlobs(digests.filter((d) => !isSparseDigest(d)));
      let r = 0;
      digests.forEach((d, i) => {
        const id = first + i;
        const size = blockLength(id, version.sizeBytes, this.ctx.config.blockSize);
        if (isSparseDigest(d)) {
          blocks.push({ id, uid: null, checksum: null, size, valid: true });
          return;
        }
        const ref = refs[r++];
        blocks.push({ id, uid: ref?.uid ?? null, checksum: d.toString('hex'), size, valid: ref?.valid ?? false });
      });
    });
    return blocks;
  }

  /** A version and its blocks by state; `complete` false while a backup has not recorded every block. */
  async summary(uid: string): Promise<{ version: Version; complete: boolean; summary: BlockSummary; blocks: BlockInfo[] }> {
    const version = await this.ctx.metadata.getVersion(uid);
    const blocks = await this.blocks(uid);
    const summary = summarizeBlocks(version, blocks);
    return { version, complete: summary.unrecorded.blocks === 0, summary, blocks };
  }

  async du(uid?: string): Promise<DiskUsage[]> {
    const wanted = uid ? [await this.ctx.metadata.getVersion(uid)] : undefined;
    const survey = await this.#survey();
    return (wanted ?? survey.all).map((v) => this.#usage(v, survey.perVersion.get(v.uid)!, survey.users));
  }

  /** Every version's space (as `du`), and the repository's. */
  async usage(): Promise<{ versions: DiskUsage[]; total: RepositoryUsage }> {
    const { all, perVersion, users, blobBytes } = await this.#survey();
    const versions = all.map((v) => this.#usage(v, perVersion.get(v.uid)!, users));
    const sum = (f: (u: DiskUsage) => number): number => versions.reduce((n, u) => n + f(u), 0);
    const realBytes = sum((u) => u.realBytes);
    return {
      versions,
      total: {
        versions: versions.length,
        sourceBytes: sum((u) => u.sizeBytes),
        sparseBytes: sum((u) => u.sparseBytes),
        unrecordedBytes: sum((u) => u.unrecordedBytes),
        blobs: users.size,
        blobBytes,
        dedupRatio: blobBytes > 0 ? realBytes / blobBytes : 0,
      },
    };
  }

  /** Each version's recorded blocks, and how many versions reference each blob. */
  async #survey(): Promise<{ all: Version[]; perVersion: Map<string, Recorded>; users: Map<string, number>; blobBytes: number }> {
    const all = await this.ctx.metadata.listVersions();
    // How many versions reference each blob (counted once per version).
    const users = new Map<string, number>();
    const sizes = new Map<string, number>();
    const perVersion = new Map<string, Recorded>();
    for (const v of all) {
      const blobs = new Map<string, number>();
      let realBytes = 0;
      let recordedBytes = 0;
      let segments = 0;
      await this.#eachBlock(v, (first, segment, layout) => {
        segments++;
        for (let i = 0; i < segment.length / layout.digestLength; i++) {
          const d = digestAt(segment, i, layout.digestLength);
          const size = blockLength(first + i, v.sizeBytes, this.ctx.config.blockSize);
          recordedBytes += size;
          if (isSparseDigest(d)) continue;
          realBytes += size;
          blobs.set(d.toString('hex'), size);
        }
        return Promise.resolve();
      });
      for (const [k, size] of blobs) {
        users.set(k, (users.get(k) ?? 0) + 1);
        sizes.set(k, size);
      }
      const layout = new SegmentLayout(v.size, this.ctx.config.blocksPerSegment, this.ctx.hasher.digestLength);
      perVersion.set(v.uid, { blobs, realBytes, recordedBytes, complete: segments === layout.segments });
    }
    let blobBytes = 0;
    for (const size of sizes.values()) blobBytes += size;
    return { all, perVersion, users, blobBytes };
  }

  #usage(v: Version, mine: Recorded, users: Map<string, number>): DiskUsage {
    let uniqueBytes = 0;
    let sharedBytes = 0;
    for (const [k, size] of mine.blobs) {
      uniqueBytes += size;
      if ((users.get(k) ?? 0) > 1) sharedBytes += size;
    }
    return {
      uid: v.uid,
      name: v.name,
      sizeBytes: v.sizeBytes,
      complete: mine.complete,
      unrecordedBytes: v.sizeBytes - mine.recordedBytes,
      realBytes: mine.realBytes,
      sparseBytes: mine.recordedBytes - mine.realBytes,
      dedupBytes: mine.realBytes - uniqueBytes,
      uniqueBytes,
      sharedBytes,
      exclusiveBytes: uniqueBytes - sharedBytes,
    };
  }

  async #eachBlock(version: Version, fn: (first: number, segment: Buffer, layout: SegmentLayout) => Promise<void>): Promise<void> {
    const layout = new SegmentLayout(version.size, this.ctx.config.blocksPerSegment, this.ctx.hasher.digestLength);
    const pointers = await this.ctx.metadata.getVersionSegments(version.uid);
    for (const [segNo, ptr] of [...pointers].sort((a, b) => a[0] - b[0])) {
      const [segment] = await this.ctx.metadata.getSegments([ptr.segId]);
      await fn(layout.firstBlock(segNo), segment as Buffer, layout);
    }
  }

  async rm(uid: string, options: { force?: boolean } = {}): Promise<void> {
    const version = await this.ctx.metadata.getVersion(uid);
    if (version.protected) throw new ProtectedVersionError(uid);
    const minDays = this.ctx.config.disallowRmWhenYoungerThanDays;
    const ageDays = (this.ctx.clock.now().getTime() - version.date.getTime()) / DAY_MS;
    if (!options.force && ageDays < minDays) {
      throw new ConflictError(
        `version ${uid} is ${ageDays.toFixed(1)} days old; versions younger than ${minDays} days are kept unless you pass --force`,
      );
    }
    const lease = await this.ctx.locks.acquire(`version:${uid}`, { owner: this.ctx.owner });
    try {
      await this.ctx.metadata.deleteVersion(uid, this.ctx.clock.now());
      await this.ctx.blobs.delete([metadataKey(uid)]);
    } finally {
      await lease.release();
    }
    this.ctx.events.publish({ kind: 'version.removed', versionUid: uid, name: version.name });
  }

  async setProtected(uid: string, value: boolean): Promise<Version> {
    const version = await this.ctx.metadata.getVersion(uid);
    if (version.protected === value) throw new InvalidVersionStateError(`version ${uid} is already ${value ? 'protected' : 'unprotected'}`);
    await this.ctx.metadata.updateVersion(uid, { protected: value });
    return this.ctx.metadata.getVersion(uid);
  }

  async addTags(uid: string, tags: readonly string[]): Promise<Version> {
    for (const t of tags)
      if (!isValidTag(t)) throw new InvalidArgumentError(`invalid tag ${JSON.stringify(t)}: use 1-64 of A-Z a-z 0-9 _ . : -`);
    const version = await this.ctx.metadata.getVersion(uid);
    await this.ctx.metadata.updateVersion(uid, { tags: [...new Set([...version.tags, ...tags])] });
    return this.ctx.metadata.getVersion(uid);
  }

  async removeTags(uid: string, tags: readonly string[]): Promise<Version> {
    const version = await this.ctx.metadata.getVersion(uid);
    const missing = tags.filter((t) => !version.tags.includes(t));
    if (missing.length > 0) throw new InvalidArgumentError(`version ${uid} has no tag ${missing.join(', ')}`);
    await this.ctx.metadata.updateVersion(uid, { tags: version.tags.filter((t) => !tags.includes(t)) });
    return this.ctx.metadata.getVersion(uid);
  }

  async setExpire(uid: string, expire: Date | null): Promise<Version> {
    await this.ctx.metadata.getVersion(uid);
    await this.ctx.metadata.updateVersion(uid, { expire });
    return this.ctx.metadata.getVersion(uid);
  }
}
