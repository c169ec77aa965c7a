/**
 * A job's outcome as the job API's typed messages (Job.result, one per job type), built from what
 * runJob returns: the JSON the CLI prints with --json, which Job.result_json keeps as it is.
 */
import type { BackupStats, CleanupResult as CoreCleanupResult, ScrubResult as CoreScrubResult, VersionJson } from '@blockvault/core';
import type { Job, Version } from '@blockvault/proto';

/** A version as the job API's Version message (with its backup's stats when given them). */
export function versionPb(v: VersionJson & { readonly stats?: BackupStats | null }): Version {
  return {
    ...(v.stats ? { stats: { ...v.stats } } : {}),
    uid: v.uid,
    name: v.name,
    snapshotName: v.snapshotName,
    date: v.date,
    size: v.size,
    sizeBytes: v.sizeBytes,
    valid: v.valid,
    protected: v.protected,
    tags: [...v.tags],
    expire: v.expire ?? '',
  };
}

type BackupJson = { version: VersionJson; stats: BackupStats };
type RestoreJson = {
  version: VersionJson;
  target: string;
  blocksRestored: number;
  bytesRestored: number;
  damagedBlocks: number[];
  invalidatedVersions: string[];
  durationSeconds: number;
};
type CleanupJson = Omit<CoreCleanupResult, 'cutoff'> & { cutoff: string };
type EnforceJson = { version: VersionJson; keep: boolean; removed: boolean; reasons: string[] }[];

export type JobResultFields = Pick<Job, 'backupResult' | 'restoreResult' | 'scrubResult' | 'cleanupResult' | 'enforceResult'>;

/** The typed result of a succeeded job of `type` whose runJob outcome is `json`. */
export function typedResult(type: string, json: unknown): JobResultFields {
  switch (type) {
    case 'backup': {
      const r = json as BackupJson;
      return { backupResult: { version: versionPb(r.version), stats: { ...r.stats } } };
    }
    case 'restore': {
      const r = json as RestoreJson;
      return {
        restoreResult: {
          version: versionPb(r.version),
          target: r.target,
          blocksRestored: r.blocksRestored,
          bytesRestored: r.bytesRestored,
          damagedBlocks: [...r.damagedBlocks],
          invalidatedVersions: [...r.invalidatedVersions],
          durationSeconds: r.durationSeconds,
        },
      };
    }
    case 'scrub': {
      const r = json as CoreScrubResult;
      return {
        scrubResult: {
          uid: r.uid,
          deep: r.deep,
          blocksChecked: r.blocksChecked,
          bytesChecked: r.bytesChecked,
          damagedBlocks: [...r.damagedBlocks],
          sourceMismatches: [...r.sourceMismatches],
          incomplete: r.incomplete,
          valid: r.valid,
        },
      };
    }
    case 'cleanup': {
      const r = json as CleanupJson;
      return {
        cleanupResult: {
          cutoff: r.cutoff,
          candidates: r.candidates,
          spared: r.spared,
          blobsDeleted: r.blobsDeleted,
          bytesDeleted: r.bytesDeleted,
          orphansDeleted: r.orphansDeleted,
          strayObjectsDeleted: r.strayObjectsDeleted,
          segmentsDeleted: r.segmentsDeleted,
          dryRun: r.dryRun,
        },
      };
    }
    case 'enforce': {
      const r = json as EnforceJson;
      return {
        enforceResult: {
          decisions: r.map((d) => ({ version: versionPb(d.version), keep: d.keep, removed: d.removed, reasons: [...d.reasons] })),
        },
      };
    }
    default:
      return {};
  }
}
