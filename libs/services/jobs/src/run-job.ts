/** Runs one job's spec on a repository and returns what the CLI prints for it with --json. */
import {
  checkTimeZone,
  DEFAULT_GRACE_SECONDS,
  InvalidArgumentError,
  parseHints,
  parseRetentionRules,
  restoreResultToJson,
  versionToJson,
  VersionNotFoundError,
  type ProgressListener,
  type Repository,
} from '@blockvault/core';
import type { Job } from '@blockvault/proto';

export interface RunHooks {
  readonly onProgress?: ProgressListener;
  /** A backup's version exists: record it, so that a redelivered job continues it. */
  readonly onVersion?: (uid: string) => Promise<void> | void;
  /** Stops a backup, restore or scrub between blocks (CancelJob). */
  readonly signal?: AbortSignal;
  /** This attempt's delivery number: the version lock's owner names it. @default 1 */
  readonly attempt?: number;
  /**
   * Whether an earlier try of this restore job already wrote to the target (so the target is
   * the job's own and a retry overwrites it, rather than refusing an existing target).
   */
  readonly restoreWroteTarget?: () => boolean;
}

/** The owner prefix of every attempt of a job, in version locks (LockOptions.takeOverFrom). */
export const jobLockPrefix = (jobId: string): string => `job:${jobId}#`;

export async function runJob(repo: Repository, job: Job, hooks: RunHooks = {}): Promise<unknown> {
  const req = job.request;
  if (req?.backup) {
    const b = req.backup;
    // The version's lock names this attempt; a later attempt of the same job takes it over at once
    // once this one stops renewing it (a worker that died), never while it is alive. Its events name the job.
    const locking = {
      lockOwner: `${jobLockPrefix(job.id)}${hooks.attempt ?? 1} ${repo.ctx.owner}`,
      takeOverFrom: jobLockPrefix(job.id),
      jobId: job.id,
    };
    if (b.continueUid && !job.versionUid) {
      // Asked to finish an interrupted version (`backup --continue UID` with --server).
      const r = await repo.backup({
        source: b.source,
        name: b.name,
        continueUid: b.continueUid,
        onProgress: hooks.onProgress,
        onVersion: (uid) => void hooks.onVersion?.(uid),
        signal: hooks.signal,
        ...locking,
      });
      return { version: versionToJson(r.version), stats: r.stats };
    }
    if (job.versionUid) {
      // An earlier attempt created the version: continue it rather than start over.
      // Gone (removed meanwhile): start a new version; any other failure fails the attempt.
      const earlier = await repo.getVersion(job.versionUid).catch((err: unknown) => {
        if (err instanceof VersionNotFoundError) return undefined;
        throw err;
      });
      if (earlier?.valid) return { version: versionToJson(earlier), stats: earlier.stats };
      if (earlier) {
        const r = await repo.backup({
          source: b.source,
          name: b.name,
          continueUid: earlier.uid,
          onProgress: hooks.onProgress,
          signal: hooks.signal,
          ...locking,
        });
        return { version: versionToJson(r.version), stats: r.stats };
      }
    }
    const r = await repo.backup({
      source: b.source,
      name: b.name,
      snapshotName: b.snapshotName || undefined,
      hints: b.hintsJson ? parseHints(b.hintsJson, 'hints_json') : undefined,
      fromUid: b.fromUid || undefined,
      tags: b.tags,
      expire: b.expire ? new Date(b.expire) : null,
      onProgress: hooks.onProgress,
      onVersion: (uid) => void hooks.onVersion?.(uid),
      signal: hooks.signal,
      ...locking,
    });
    return { version: versionToJson(r.version), stats: r.stats };
  }
  if (req?.restore) {
    const r = req.restore;
    const result = await repo.restore({
      uid: r.uid,
      target: r.target,
      sparse: r.sparse,
      force: r.force || (hooks.restoreWroteTarget?.() ?? false),
      continueFrom: r.continueFrom || undefined,
      onProgress: hooks.onProgress,
      signal: hooks.signal,
      jobId: job.id,
    });
    return restoreResultToJson(result, r.target);
  }
  if (req?.scrub) {
    const s = req.scrub;
    return repo.scrub(s.uid, {
      deep: s.deep,
      percent: s.percent || undefined,
      source: s.source || undefined,
      signal: hooks.signal,
      jobId: job.id,
    });
  }
  if (req?.cleanup) {
    const c = req.cleanup;
    const r = await repo.cleanup({
      graceSeconds: c.graceSeconds === undefined || c.graceSeconds < 0 ? DEFAULT_GRACE_SECONDS : c.graceSeconds,
      full: c.full,
      prefix: c.prefix,
      dryRun: c.dryRun,
    });
    return { ...r, cutoff: r.cutoff.toISOString() };
  }
  if (req?.enforce) {
    const e = req.enforce;
    const decisions = await repo.enforce(parseRetentionRules(e.rules), {
      name: e.name || undefined,
      dryRun: e.dryRun,
      timeZone: checkTimeZone(e.timeZone || 'UTC'),
    });
    return decisions.map((d) => ({ version: versionToJson(d.version), keep: d.keep, removed: d.removed, reasons: d.reasons }));
  }
  throw new InvalidArgumentError(`job ${job.id} names no job: one of backup, restore, scrub, cleanup, enforce must be set`);
}
