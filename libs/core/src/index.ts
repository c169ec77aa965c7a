export * from './errors.ts';
export * from './model.ts';
export * from './ports.ts';
export * from './hash.ts';
export * from './hints.ts';
export * from './block-map.ts';
export * from './blob-format.ts';
export * from './blob-codec.ts';
export * from './io-registry.ts';
export * from './context.ts';
export * from './tags.ts';
export { BackupSessionLease } from './session.ts';
export { backup, checkBackupRequest, SANITY_CHECK_BLOCKS, type BackupRequest, type BackupResult } from './backup.ts';
export { restore, restoreResultToJson, type RestoreRequest, type RestoreResult } from './restore.ts';
export { cleanup, DEFAULT_GRACE_SECONDS, type CleanupOptions, type CleanupPhase, type CleanupResult } from './cleanup.ts';
export {
  exportVersion,
  importVersion,
  metadataKey,
  parseExport,
  recoverFromBlobStore,
  storeVersionMetadata,
  EXPORT_FORMAT_VERSION,
  type ExportDocument,
} from './export.ts';
export { checkTimeZone, parseRetentionRules, planRetention, type RetentionDecision, type RetentionRules } from './retention.ts';
export { isDue, parseDuration, slaBreaches, validateSchedule, type Schedule } from './schedules.ts';
export { batchScrub, scrub, type BatchScrubOptions, type ScrubOptions, type ScrubResult } from './scrub.ts';
export { Repository, type DiskUsage, type ListOptions } from './repository.ts';
export {
  scheduleStatus,
  summarizeBlocks,
  type BlockCount,
  type BlockSummary,
  type RepositoryUsage,
  type ScheduleStatus,
} from './summary.ts';
export { isZero, zeroBuffer } from './zero.ts';
export { releaseBuffer } from './buffers.ts';
export { alignedSlots, DIRECT_ALIGN, DIRECT_MIN_BYTES, roundUp } from './aligned.ts';
export { LocalScanner, type LocalScannerOptions } from './scanner.ts';
export { isStaleAttempt, renewingLease } from './lease.ts';
export { ATTR, BlockTrace, DEFAULT_BLOCK_TRACE_RATIO, failSpan, inSpan, SPAN, tracer } from './tracing.ts';
export {
  BlobStoreWrapper,
  DeadlineBlobStore,
  isRetryable,
  retrying,
  RetryingBlobStore,
  withDeadline,
  type RetryPolicy,
} from './store-wrappers.ts';
export * from './version-reader.ts';
