import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alignedSlots, DIRECT_ALIGN } from './aligned.ts';

describe('aligned slots', () => {
  it('lends slots that never overlap while lent, reuses a returned one, and serves many sizes from few memories', () => {
    const lent: Uint8Array[] = [];
    // Blobs of many sizes (compressed ones vary) and more at once than one arena holds.
    for (let i = 0; i < 200; i++) {
      const slot = alignedSlots.acquire(300_000 + i * 20_000);
      assert.ok(slot, `slot ${i}`);
      assert.ok(slot.byteLength >= 300_000 + i * 20_000);
      assert.equal(slot.byteOffset % DIRECT_ALIGN, 0);
      slot.fill(i % 251);
      lent.push(slot);
    }
    // Each still holds what was written into it: no two share memory.
    lent.forEach((slot, i) => assert.equal(slot[slot.length - 1], i % 251));
    const memories = new Set(lent.map((s) => s.buffer));
    assert.ok(memories.size <= 30, `${memories.size} memories for 200 slots`);
    const first = lent[0]!;
    alignedSlots.release(first);
    assert.equal(alignedSlots.acquire(first.byteLength), first, 'the returned slot is lent again');
    for (const slot of lent) alignedSlots.release(slot);
  });
});
