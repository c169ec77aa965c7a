/** The retry and deadline wrappers, on a scripted store and an injected clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobNotFoundError, IntegrityError, UnavailableError } from './errors.ts';
import { DeadlineBlobStore, retrying } from './store-wrappers.ts';
import type { BlobStore } from './ports.ts';

/** A virtual clock: sleeping advances it, nothing waits. */
function virtualTime(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)), slept };
}

describe('retrying', () => {
  it('retries unavailability with growing, jittered waits until the call succeeds', async () => {
    const time = virtualTime();
    let calls = 0;
    const result = await retrying('put x', { ...time, random: () => 0.5, initialDelayMs: 100, maxDelayMs: 1000 }, async () => {
      if (++calls < 4) throw new UnavailableError('down');
      return 'stored';
    });
    assert.equal(result, 'stored');
    assert.deepEqual(time.slept, [100, 200, 400]);
  });

  it('never retries integrity, not-found or other errors', async () => {
    for (const err of [new IntegrityError('bad'), new BlobNotFoundError('k'), new Error('bug')]) {
      let calls = 0;
      await assert.rejects(
        retrying('get', virtualTime(), async () => {
          calls++;
          throw err;
        }),
        (e: unknown) => e === err,
      );
      assert.equal(calls, 1, `${err.name} is not retried`);
    }
  });

  it('gives up with the last error once the time budget is spent', async () => {
    const time = virtualTime();
    let calls = 0;
    await assert.rejects(
      retrying('put', { ...time, random: () => 0.5, maxElapsedMs: 1000, initialDelayMs: 100 }, async () => {
        calls++;
        throw new UnavailableError(`down ${calls}`);
      }),
      /down/,
    );
    assert.ok(time.now() <= 1000, `waited ${time.now()} ms of a 1000 ms budget`);
    assert.ok(calls >= 4, `${calls} attempts`);
  });
});

describe('DeadlineBlobStore', () => {
  it('a call that does not answer in time fails as unavailable', async () => {
    const hung = { put: () => new Promise<void>(() => undefined) } as unknown as BlobStore;
    await assert.rejects(
      new DeadlineBlobStore(hung, 20, 'test store').put('k', []),
      (e: unknown) => e instanceof UnavailableError && /within 20 ms/.test(e.message),
    );
  });
});
