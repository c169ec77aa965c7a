/**
 * Wrappers that implement the BlobStore port around another one (restic's `backend/retry`,
 * Kopia's layers): composed once per process by the platform's store registry, in this order
 * from the backend out: a deadline on each call, then retries of unavailability.
 */
import { pinBuffers } from './buffers.ts';
import { isBlockvaultError, ErrorCode, UnavailableError } from './errors.ts';
import type { BlobStore } from './ports.ts';

export interface RetryPolicy {
  /** Give up once this long has passed since the first attempt. @default 30000 */
  readonly maxElapsedMs?: number;
  /** The first wait; each next one doubles, up to `maxDelayMs`. @default 100 */
  readonly initialDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
  /** Random numbers in [0, 1) for jitter. @default Math.random */
  readonly random?: () => number;
  /** Milliseconds since some fixed point. @default performance.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Which failures are worth another try. @default isRetryable: unavailability only */
  readonly retryOn?: (err: unknown) => boolean;
  /** Told before each wait (for logs and metrics). */
  readonly onRetry?: (what: string, attempt: number, err: Error, delayMs: number) => void;
}

/** Only unavailability is worth a retry: integrity, auth, not-found and bad input never change by waiting. */
export function isRetryable(err: unknown): boolean {
  return isBlockvaultError(err) && err.code === ErrorCode.Unavailable;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Runs `fn` until it succeeds, fails with a non-retryable error, or the policy's time runs out. */
export async function retrying<T>(what: string, policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  const now = policy.now ?? (() => performance.now());
  const random = policy.random ?? Math.random;
  const sleep = policy.sleep ?? defaultSleep;
  const maxElapsed = policy.maxElapsedMs ?? 30_000;
  const started = now();
  let delay = policy.initialDelayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(policy.retryOn ?? isRetryable)(err)) throw err;
      // Full jitter around the exponential step (AWS architecture blog), never past the budget.
      const wait = Math.min(delay * (0.5 + random()), Math.max(0, maxElapsed - (now() - started)));
      if (wait <= 0) throw err;
      policy.onRetry?.(what, attempt, err as Error, wait);
      await sleep(wait);
      delay = Math.min(delay * 2, policy.maxDelayMs ?? 5000);
    }
  }
}

/** A BlobStore around another: every call goes through unchanged unless a subclass overrides it. */
export abstract class BlobStoreWrapper implements BlobStore {
  protected readonly inner: BlobStore;

  constructor(inner: BlobStore) {
    this.inner = inner;
  }

  put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    return this.inner.put(key, chunks);
  }

  get(key: string): Promise<Buffer> {
    return this.inner.get(key);
  }

  stat(key: string): Promise<{ size: number } | undefined> {
    return this.inner.stat(key);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  list(prefix?: string): AsyncIterable<string> {
    return this.inner.list(prefix);
  }

  listWithDates(prefix?: string): AsyncIterable<{ key: string; modified: Date }> {
    return this.inner.listWithDates(prefix);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Retries calls that find the store unavailable; listings are passed through. */
export class RetryingBlobStore extends BlobStoreWrapper {
  readonly #policy: RetryPolicy;

  constructor(inner: BlobStore, policy: RetryPolicy = {}) {
    super(inner);
    this.#policy = policy;
  }

  override put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    // A put is idempotent by key: a retry after a lost answer writes the same bytes again.
    return retrying(`put ${key}`, this.#policy, () => this.inner.put(key, chunks));
  }

  override get(key: string): Promise<Buffer> {
    return retrying(`get ${key}`, this.#policy, () => this.inner.get(key));
  }

  override stat(key: string): Promise<{ size: number } | undefined> {
    return retrying(`stat ${key}`, this.#policy, () => this.inner.stat(key));
  }

  override delete(keys: readonly string[]): Promise<void> {
    return retrying(`delete ${keys.length} blob(s)`, this.#policy, () => this.inner.delete(keys));
  }
}

/**
 * Rejects with `UnavailableError` when `promise` has not settled within `ms`, calling
 * `onAbandoned` first: the work behind `promise` goes on unobserved.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, onAbandoned?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      onAbandoned?.();
      fail(new UnavailableError(`${what} did not answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * A deadline on every call, so that a hung store fails the call (and the retry wrapper above
 * tries again) instead of hanging the backup. The abandoned call may still finish later: puts are
 * idempotent by key, so that is harmless, as long as the bytes it reads stay as they were: an
 * abandoned put pins its chunks (pinBuffers), so that releaseBuffer never frees them under it.
 */
export class DeadlineBlobStore extends BlobStoreWrapper {
  readonly #ms: number;
  readonly #where: string;

  constructor(inner: BlobStore, ms: number, where: string) {
    super(inner);
    this.#ms = ms;
    this.#where = where;
  }

  override put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    return withDeadline(this.inner.put(key, chunks), this.#ms, `${this.#where}: put ${key}`, () => pinBuffers(chunks));
  }

  override get(key: string): Promise<Buffer> {
    return withDeadline(this.inner.get(key), this.#ms, `${this.#where}: get ${key}`);
  }

  override stat(key: string): Promise<{ size: number } | undefined> {
    return withDeadline(this.inner.stat(key), this.#ms, `${this.#where}: stat ${key}`);
  }

  override delete(keys: readonly string[]): Promise<void> {
    return withDeadline(this.inner.delete(keys), this.#ms, `${this.#where}: delete`);
  }
}
