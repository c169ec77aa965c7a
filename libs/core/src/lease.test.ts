/** A renewing lease rides out an unreachable lock store and stops only once the lease is lost. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError, VersionLockedError } from './errors.ts';
import { renewingLease } from './lease.ts';

/** Counts renewals; resolves `reached(n)` on the n-th. */
function renewals(outcome: (n: number) => unknown): { renew: () => unknown; reached: (n: number) => Promise<void>; count: () => number } {
  let calls = 0;
  const waiting = new Map<number, () => void>();
  return {
    renew: () => {
      calls++;
      waiting.get(calls)?.();
      return outcome(calls);
    },
    reached: (n) => new Promise((done) => (calls >= n ? done() : waiting.set(n, done))),
    count: () => calls,
  };
}

describe('renewingLease', () => {
  it('keeps renewing through an outage of the lock store', async () => {
    const r = renewals((n) => {
      if (n <= 2) throw new UnavailableError('lock store restarting');
      return true;
    });
    const lease = renewingLease('version:x', 30, r.renew, async () => undefined);
    await r.reached(4);
    await lease.release();
  });

  it('stops renewing once the lease is lost', async () => {
    const r = renewals(() => {
      throw new VersionLockedError('version:y', 'another holder');
    });
    const lease = renewingLease('version:y', 30, r.renew, async () => undefined);
    await r.reached(1);
    // A later renewal would have been due by the time another one of these completes.
    const other = renewals(() => true);
    const witness = renewingLease('version:z', 30, other.renew, async () => undefined);
    await other.reached(3);
    await witness.release();
    assert.equal(r.count(), 1, 'no renewal after the lease was lost');
    await lease.release();
  });

  it('a release waits for the renewal in flight, so it releases the lease as renewed', async () => {
    const order: string[] = [];
    let finishRenewal!: () => void;
    const r = renewals(async () => {
      order.push('renewal started');
      await new Promise<void>((done) => (finishRenewal = done));
      order.push('renewal done');
      return true;
    });
    const lease = renewingLease('version:w', 30, r.renew, async () => void order.push('released'));
    await r.reached(1);
    const released = lease.release();
    finishRenewal();
    await released;
    assert.deepEqual(order, ['renewal started', 'renewal done', 'released']);
  });
});
