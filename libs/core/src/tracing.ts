/**
 * Tracing through the OpenTelemetry API (a no-op until a process starts an SDK): span and
 * attribute names as constants, and per-block spans sampled by their own ratio, independent of
 * the job's span, so that a 1 TiB backup (262,144 blocks) does not drown the collector. A block
 * that fails is always recorded, sampled or not.
 */
import { context, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';

export const tracer = trace.getTracer('blockvault');

/** Span names. RPC and messaging spans follow the OpenTelemetry semantic conventions. */
export const SPAN = {
  job: 'blockvault.job',
  backup: 'blockvault.backup',
  restore: 'blockvault.restore',
  scrub: 'blockvault.scrub',
  block: 'blockvault.block',
  read: 'blockvault.block.read',
  hash: 'blockvault.block.hash',
  dedupLookup: 'blockvault.block.dedup_lookup',
  put: 'blockvault.block.put',
  segmentCommit: 'blockvault.segment.commit',
  /** The reader service serving one block of a stream. */
  readerRead: 'blockvault.reader.read',
  readerWrite: 'blockvault.reader.write',
  /** The reader service storing a new block as a blob (backups that hash where the data is). */
  readerStore: 'blockvault.reader.store',
} as const;

/** Attribute names. */
export const ATTR = {
  versionUid: 'blockvault.version.uid',
  blockIndex: 'blockvault.block.index',
  blockSize: 'blockvault.block.size',
  blockDedup: 'blockvault.block.dedup',
  blockSparse: 'blockvault.block.sparse',
  blockNew: 'blockvault.block.new',
  segment: 'blockvault.segment.index',
  jobId: 'blockvault.job.id',
  jobType: 'blockvault.job.type',
  jobAttempt: 'blockvault.job.attempt',
  offset: 'blockvault.io.offset',
  length: 'blockvault.io.length',
  url: 'blockvault.io.url',
} as const;

/** Per-block spans: BLOCKVAULT_TRACE_BLOCKS sets the ratio in the services. */
export const DEFAULT_BLOCK_TRACE_RATIO = 0.01;

/** Runs `fn` in a child span of the active context; an error is recorded and rethrown. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export function failSpan(span: Span, err: unknown): void {
  span.recordException(err as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
}

/**
 * One block's work: a span when the block is sampled (children via `step`), nothing otherwise;
 * a failure of an unsampled block is recorded as a span after the fact, from its start time.
 */
export class BlockTrace {
  readonly #span: Span | undefined;
  readonly #parent: Context;
  readonly #started = Date.now();
  readonly #attributes: Attributes;

  constructor(sampled: boolean, attributes: Attributes) {
    this.#parent = context.active();
    this.#attributes = attributes;
    this.#span =
      sampled && trace.getSpan(this.#parent)?.isRecording() ? tracer.startSpan(SPAN.block, { attributes }, this.#parent) : undefined;
  }

  get sampled(): boolean {
    return this.#span !== undefined;
  }

  setAttributes(attributes: Attributes): void {
    this.#span?.setAttributes(attributes);
  }

  /** Runs one step of the block (read, hash, ...) in its own child span when sampled. */
  step<T>(name: string, fn: () => Promise<T>, attributes: Attributes = {}): Promise<T> {
    if (!this.#span) return fn();
    return context.with(trace.setSpan(this.#parent, this.#span), () => inSpan(name, attributes, fn));
  }

  end(err?: unknown): void {
    if (err !== undefined) {
      const span = this.#span ?? tracer.startSpan(SPAN.block, { attributes: this.#attributes, startTime: this.#started }, this.#parent);
      failSpan(span, err);
      span.end();
      return;
    }
    this.#span?.end();
  }
}
