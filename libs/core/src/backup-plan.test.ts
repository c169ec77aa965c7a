import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Action, BackupPlan } from './backup-plan.ts';
import { classifyBlocks } from './hints.ts';
import type { Version } from './model.ts';

const B = 4096;
const base = (sizeBytes: number): Version => ({
  uid: 'base',
  name: 'vm1',
  snapshotName: '',
  date: new Date(0),
  size: Math.ceil(sizeBytes / B),
  sizeBytes,
  valid: true,
  protected: false,
  tags: [],
  expire: null,
  stats: null,
});

describe('BackupPlan', () => {
  it('reads every block without hints', () => {
    const plan = new BackupPlan({ sizeBytes: 3 * B, blockSize: B, hints: undefined, base: base(3 * B) }, 2, 32);
    assert.deepEqual(
      [0, 1, 2].map((i) => plan.action(i)),
      [Action.Read, Action.Read, Action.Read],
    );
  });

  it('takes untouched blocks from the base, and unnamed blocks are sparse without a base', () => {
    const hints = classifyBlocks([{ offset: B, length: 1, exists: true }], 3 * B, B);
    const withBase = new BackupPlan({ sizeBytes: 3 * B, blockSize: B, hints, base: base(3 * B) }, 2, 32);
    assert.deepEqual(
      [0, 1, 2].map((i) => withBase.action(i)),
      [Action.Base, Action.Read, Action.Base],
    );
    const noBase = new BackupPlan({ sizeBytes: 3 * B, blockSize: B, hints, base: undefined }, 2, 32);
    assert.deepEqual(
      [0, 1, 2].map((i) => noBase.action(i)),
      [Action.Sparse, Action.Read, Action.Sparse],
    );
  });

  it('re-reads a last block whose size changed and blocks beyond the base', () => {
    const hints = classifyBlocks([], 3 * B + 10, B);
    const plan = new BackupPlan({ sizeBytes: 3 * B + 10, blockSize: B, hints, base: base(2 * B + 5) }, 2, 32);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => plan.action(i)),
      [Action.Base, Action.Base, Action.Read, Action.Read],
    );
  });

  it('reuses a base segment only when all of its blocks are untouched and shaped alike', () => {
    const hints = classifyBlocks([{ offset: 2 * B, length: 1, exists: true }], 6 * B, B);
    const plan = new BackupPlan({ sizeBytes: 6 * B, blockSize: B, hints, base: base(5 * B) }, 2, 32);
    const baseLayout = new BackupPlan({ sizeBytes: 5 * B, blockSize: B, hints: undefined, base: undefined }, 2, 32).layout;
    assert.deepEqual(
      [0, 1, 2].map((s) => plan.segmentIsUntouched(s, baseLayout)),
      [true, false, false],
    );
  });

  it('picks sanity-check blocks from the untouched ones: half from the start, half at random', () => {
    const hints = classifyBlocks([{ offset: 0, length: 2 * B, exists: true }], 100 * B, B);
    const plan = new BackupPlan({ sizeBytes: 100 * B, blockSize: B, hints, base: base(100 * B) }, 16, 32);
    let seed = 1;
    const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const ids = plan.sanityCheckBlocks(10, random);
    assert.equal(ids.length, 10);
    assert.deepEqual(ids.slice(0, 5), [2, 3, 4, 5, 6]);
    assert.ok(ids.every((id) => id >= 2 && id < 100));
  });
});
