/** The Locks contract: every adapter (SQLite, MongoDB, NATS KV, ...) runs this suite. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VersionLockedError, type Clock, type Locks } from '@blockvault/core';

export interface LocksFactory {
  /** Two handles on the same lock store (two processes), sharing `clock`. */
  (clock: Clock, options?: { override?: boolean; onOverride?: (name: string, holder: string) => void }): Promise<Locks>;
}

export function locksContract(name: string, open: LocksFactory): void {
  describe(`Locks contract: ${name}`, () => {
    const realClock: Clock = { now: () => new Date() };

    it('one holder at a time; released locks can be taken again', async () => {
      const [a, b] = [await open(realClock), await open(realClock)];
      const lease = await a.acquire('version:one', { owner: 'first' });
      await assert.rejects(
        b.acquire('version:one', { owner: 'second' }),
        (e: unknown) => e instanceof VersionLockedError && /first/.test(e.message),
      );
      await lease.release();
      await (await b.acquire('version:one', { owner: 'second' })).release();
    });

    it('different names do not exclude each other', async () => {
      const a = await open(realClock);
      const x = await a.acquire('version:x', { owner: 'o' });
      const y = await a.acquire('version:y', { owner: 'o' });
      await Promise.all([x.release(), y.release()]);
    });

    it('a lease that is not renewed expires, and another holder takes it', async () => {
      let now = new Date('2026-01-01T00:00:00Z');
      const clock: Clock = { now: () => now };
      const [a, b] = [await open(clock), await open(clock)];
      await a.acquire('version:ttl', { owner: 'stalled', ttlMs: 60_000 });
      await assert.rejects(b.acquire('version:ttl', { owner: 'next' }), VersionLockedError);
      now = new Date(now.getTime() + 60_001);
      await (await b.acquire('version:ttl', { owner: 'next' })).release();
    });

    it("a new attempt of a job takes over its dead attempt's lock at once, never a live one, never another job's", async () => {
      let now = new Date('2026-01-01T00:00:00Z');
      const clock: Clock = { now: () => now };
      const [a, b] = [await open(clock), await open(clock)];
      const ttlMs = 60_000;
      await a.acquire('version:attempts', { owner: 'job:j1#1 host-a:11', ttlMs });
      await a.acquire('version:other-job', { owner: 'job:j1#1 host-a:11', ttlMs });
      now = new Date(now.getTime() + 10_000); // still renewing (its lease never runs below two thirds)
      await assert.rejects(
        b.acquire('version:attempts', { owner: 'job:j1#2 host-b:22', ttlMs, takeOverFrom: 'job:j1#' }),
        VersionLockedError,
      );
      now = new Date(now.getTime() + 21_000); // 31 s without a renewal: that attempt has stopped
      await assert.rejects(
        b.acquire('version:other-job', { owner: 'job:j2#1 host-b:22', ttlMs, takeOverFrom: 'job:j2#' }),
        VersionLockedError,
        "another job's lock waits out its lease",
      );
      await (await b.acquire('version:attempts', { owner: 'job:j1#2 host-b:22', ttlMs, takeOverFrom: 'job:j1#' })).release();
    });

    it('an override takes a live lease and reports whose it was', async () => {
      const a = await open(realClock);
      const overrides: string[] = [];
      const b = await open(realClock, { override: true, onOverride: (n, holder) => overrides.push(`${n} from ${holder}`) });
      await a.acquire('version:ov', { owner: 'holder' });
      await (await b.acquire('version:ov', { owner: 'operator' })).release();
      assert.equal(overrides.length, 1);
      assert.match(overrides[0]!, /version:ov from holder/);
    });
  });
}
