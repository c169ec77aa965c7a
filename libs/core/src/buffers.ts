import { isZeroBufferView } from './zero.ts';

/** Smaller buffers may be slices of Node's shared 8 KiB pool; they are left to the collector. */
const RELEASE_MIN_BYTES = 1024 * 1024;

/** Memory a call abandoned at its deadline may still read: never released, only collected. */
const pinned = new WeakSet<ArrayBuffer>();

/**
 * Marks the memory of `chunks` as possibly still read by a call that was given up on (a put
 * abandoned at its deadline keeps going): releaseBuffer leaves it to the collector from now on.
 */
export function pinBuffers(chunks: readonly Uint8Array[]): void {
  for (const c of chunks) if (c.buffer instanceof ArrayBuffer) pinned.add(c.buffer);
}

/** Whether `data`'s memory was pinned (pinBuffers): a call given up on may still read it. */
export function isPinned(data: Uint8Array): boolean {
  return data.buffer instanceof ArrayBuffer && pinned.has(data.buffer);
}

/**
 * Frees a large buffer's memory now, by detaching its ArrayBuffer, instead of at a later garbage
 * collection. V8 starts a full collection for about every 64 MiB of new off-heap memory, and a
 * restore allocates 4-8 MiB per block: a profile of a 2 GiB restore showed about 50 full
 * collections, a third of its CPU time. Releasing each block once it is written cuts them to ~13.
 *
 * Only for a buffer nothing else holds: every view of the same ArrayBuffer reads as empty
 * afterwards. Small buffers, the shared zero buffer, pinned memory (pinBuffers) and memory that
 * cannot be detached (WASM memory, for one) are left alone.
 */
export function releaseBuffer(data: Uint8Array): void {
  const memory = data.buffer;
  if (
    !(memory instanceof ArrayBuffer) ||
    memory.detached ||
    memory.byteLength < RELEASE_MIN_BYTES ||
    isZeroBufferView(data) ||
    pinned.has(memory)
  )
    return;
  try {
    memory.transfer(0);
  } catch (notDetachable) {
    // A non-detachable ArrayBuffer (TypeError): the collector frees it as before.
    if (!(notDetachable instanceof TypeError)) throw notDetachable;
  }
}
