import { isRetryable } from './store-wrappers.ts';
import type { Lease, LockOptions } from './ports.ts';

/**
 * A held lock: renews itself every third of its TTL (in the background, never keeping the process
 * alive) until released. `renew` returning false or throwing a domain error means the lease is
 * lost: renewing stops, and the holder's next fenced write will fail. A store that is only out of
 * reach (UnavailableError) is tried again at the next renewal: a lock store restarting for less
 * than the lease costs nothing.
 */
export function renewingLease(name: string, ttlMs: number, renew: () => unknown, release: () => Promise<void>): Lease {
  // The renewal in flight, if any: a release waits for it, or it would release the revision
  // before the renewal's and leave the lock held until it expires.
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewing = (async () => {
        try {
          if ((await renew()) === false) clearInterval(timer);
        } catch (err) {
          if (!isRetryable(err)) clearInterval(timer);
        }
      })();
    },
    Math.max(ttlMs / 3, 10),
  );
  timer.unref();
  return {
    name,
    release: async () => {
      clearInterval(timer);
      await renewing;
      await release();
    },
  };
}

/**
 * Whether a held lock may be taken over by `options` (see LockOptions.takeOverFrom): the holder is
 * an earlier attempt of the same job and has missed a renewal. A live holder renews every third
 * of its lease, so its lease never runs below two thirds; below half, it has stopped.
 */
export function isStaleAttempt(holderOwner: string, expires: number, now: number, options: LockOptions, ttlMs: number): boolean {
  if (!options.takeOverFrom || !holderOwner.startsWith(options.takeOverFrom)) return false;
  return expires - now < ttlMs / 2;
}
