import { randomBytes, randomUUID } from 'node:crypto';
import type { BlobCodec } from './blob-codec.ts';
import type { Hasher } from './hash.ts';
import type { IoRegistry } from './io-registry.ts';
import type { RepositoryConfig } from './model.ts';
import type { BlobStore, Clock, EventBus, Locks, MetadataStore } from './ports.ts';

/** Everything an engine needs, assembled once per process by the wiring code. */
export interface EngineContext {
  readonly config: RepositoryConfig;
  readonly hasher: Hasher;
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  /** What block bytes become in the blob store (compression, encryption). */
  readonly codec: BlobCodec;
  readonly locks: Locks;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly io: IoRegistry;
  /** Who this process is, for lock messages (host:pid). */
  readonly owner: string;
  /** Blocks in flight in a pipeline (each holds one block buffer). @default 8 */
  readonly concurrency: number;
  /** Random numbers in [0, 1) (the sanity check's sample). @default Math.random */
  readonly random: () => number;
  /** New version uids. @default a random UUID */
  readonly newVersionUid: () => string;
  /** New blob uids. @default 32 random hex digits */
  readonly newBlobUid: () => string;
  /** A backup session not renewed for this long expires; cleanup then stops sparing it. @default 300000 */
  readonly sessionTtlMs: number;
  /** The share of blocks that get their own spans (when a trace is recorded). @default 0.01 */
  readonly traceBlockRatio?: number;
}

export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_SESSION_TTL_MS = 300_000;

export const defaultUids = {
  newVersionUid: (): string => randomUUID(),
  newBlobUid: (): string => randomBytes(16).toString('hex'),
};

export interface Progress {
  readonly operation: 'backup' | 'restore';
  readonly versionUid: string;
  /** The job running the operation, when one does. */
  readonly jobId?: string;
  readonly blocksDone: number;
  readonly blocksTotal: number;
  readonly bytesDone: number;
  readonly bytesPerSecond: number;
  /** Null until a rate is known. */
  readonly etaSeconds: number | null;
}

export type ProgressListener = (progress: Progress) => void;

/** `{ jobId }` when an operation runs as a job, for its events; else nothing. */
export function jobOf(req: { readonly jobId?: string }): { jobId?: string } {
  return req.jobId ? { jobId: req.jobId } : {};
}

/** Counts work done and reports it at most once a second. */
export class ProgressMeter {
  readonly #ctx: EngineContext;
  readonly #base: Omit<Progress, 'blocksDone' | 'bytesDone' | 'bytesPerSecond' | 'etaSeconds'>;
  readonly #listener: ProgressListener | undefined;
  readonly #started: number;
  #last = 0;
  blocksDone = 0;
  bytesDone = 0;

  constructor(ctx: EngineContext, base: ProgressMeter['base'], listener?: ProgressListener) {
    this.#ctx = ctx;
    this.#base = base;
    this.#listener = listener;
    this.#started = ctx.clock.now().getTime();
  }

  get base(): Omit<Progress, 'blocksDone' | 'bytesDone' | 'bytesPerSecond' | 'etaSeconds'> {
    return this.#base;
  }

  add(blocks: number, bytes: number): void {
    this.blocksDone += blocks;
    this.bytesDone += bytes;
    const now = this.#ctx.clock.now().getTime();
    if (now - this.#last >= 1000 || this.blocksDone === this.#base.blocksTotal) {
      this.#last = now;
      this.#emit(now);
    }
  }

  #emit(now: number): void {
    const seconds = Math.max((now - this.#started) / 1000, 1e-3);
    const bytesPerSecond = this.bytesDone / seconds;
    const blockRate = this.blocksDone / seconds;
    const etaSeconds = blockRate > 0 ? (this.#base.blocksTotal - this.blocksDone) / blockRate : null;
    const progress: Progress = { ...this.#base, blocksDone: this.blocksDone, bytesDone: this.bytesDone, bytesPerSecond, etaSeconds };
    this.#listener?.(progress);
    this.#ctx.events.publish({ kind: `${progress.operation}.progress`, ...progress });
  }
}
