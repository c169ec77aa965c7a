import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidHintsError } from './errors.ts';
import { BlockHint, classifyBlocks, parseHints } from './hints.ts';

const MiB = 1024 * 1024;

describe('parseHints', () => {
  const hints = [
    { offset: 0, length: 4 * MiB, exists: true },
    { offset: 8 * MiB, length: 4 * MiB, exists: false },
  ];

  it('reads rbd diff JSON on one line', () => {
    assert.deepEqual(
      parseHints('[{"offset":0,"length":4194304,"exists":"true"},{"offset":8388608,"length":4194304,"exists":"false"}]'),
      hints,
    );
  });

  it('reads pretty-printed JSON spread over many lines (backy2 read only the first line)', () => {
    const text = JSON.stringify(
      hints.map((h) => ({ ...h, exists: String(h.exists) })),
      null,
      2,
    );
    assert.ok(text.split('\n').length > 4);
    assert.deepEqual(parseHints(text), hints);
  });

  it('refuses malformed input with a message naming the bad field', () => {
    assert.throws(() => parseHints('{"offset": 1'), InvalidHintsError);
    assert.throws(() => parseHints('{}'), /expected a JSON array/);
    assert.throws(() => parseHints('[{"offset": -1, "length": 1, "exists": "true"}]'), /\[0\]\.offset/);
    assert.throws(() => parseHints('[{"offset": 0, "length": 1, "exists": "yes"}]'), /\[0\]\.exists/);
  });
});

describe('classifyBlocks', () => {
  const B = 4 * MiB;

  it('reads blocks touched by existing regions and leaves the rest untouched', () => {
    const c = classifyBlocks([{ offset: B + 10, length: B, exists: true }], 4 * B, B);
    assert.deepEqual([...c], [BlockHint.Untouched, BlockHint.Read, BlockHint.Read, BlockHint.Untouched]);
  });

  it('makes a block sparse only when discarded regions cover all of it, else reads it', () => {
    const c = classifyBlocks(
      [
        { offset: 0, length: B / 2, exists: false },
        { offset: B / 2, length: B / 2, exists: false },
        { offset: 2 * B, length: B / 2, exists: false },
      ],
      3 * B,
      B,
    );
    assert.deepEqual([...c], [BlockHint.Sparse, BlockHint.Untouched, BlockHint.Read]);
  });

  it('prefers reading when a block is both written and discarded', () => {
    const c = classifyBlocks(
      [
        { offset: 0, length: B, exists: false },
        { offset: 100, length: 1, exists: true },
      ],
      B,
      B,
    );
    assert.deepEqual([...c], [BlockHint.Read]);
  });

  it('covers a short last block with a region ending at the end of the source', () => {
    const c = classifyBlocks([{ offset: B, length: 1000, exists: false }], B + 1000, B);
    assert.deepEqual([...c], [BlockHint.Untouched, BlockHint.Sparse]);
  });

  it('refuses hints that reach past the end of the source', () => {
    assert.throws(() => classifyBlocks([{ offset: B, length: B + 1, exists: true }], 2 * B, B), InvalidHintsError);
  });
});
