import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { releaseBuffer } from './buffers.ts';
import { zeroBuffer } from './zero.ts';

describe('releaseBuffer', () => {
  it('frees a large buffer at once: it and every view of its memory read as empty', () => {
    const block = Buffer.allocUnsafeSlow(4 * 1024 * 1024);
    const payload = block.subarray(64);
    releaseBuffer(payload);
    assert.equal(block.buffer.detached, true);
    assert.equal(block.length, 0);
    assert.equal(payload.length, 0);
  });

  it("leaves small buffers alone (they may share Node's pool with others)", () => {
    const small = Buffer.from('a few bytes');
    const neighbour = Buffer.from('another few bytes');
    releaseBuffer(small);
    assert.equal(small.toString(), 'a few bytes');
    assert.equal(neighbour.toString(), 'another few bytes');
  });

  it('never releases the shared zero buffer', () => {
    releaseBuffer(zeroBuffer(4 * 1024 * 1024));
    const zeros = zeroBuffer(4 * 1024 * 1024);
    assert.equal(zeros.length, 4 * 1024 * 1024);
    assert.equal(
      zeros.every((b) => b === 0),
      true,
    );
  });

  it('leaves memory that cannot be detached (WASM memory) to the collector', () => {
    // WebAssembly's types are not in this package's lib (es2024); its Memory is in every Node.
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } })
      .WebAssembly;
    const memory = new wasm.Memory({ initial: 32 }); // 2 MiB
    const view = new Uint8Array(memory.buffer);
    view[0] = 7;
    releaseBuffer(view);
    assert.equal(new Uint8Array(memory.buffer)[0], 7);
  });
});
