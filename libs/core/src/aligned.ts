/**
 * Memory aligned for O_DIRECT, which wants the buffer, the file offset and the length aligned to
 * the device's logical block. A Node Buffer is not page aligned; WebAssembly memory is.
 */

/** The one part of the WebAssembly API used here (the project's lib has no WebAssembly types). */
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer } };

/** The alignment O_DIRECT needs: 4 KiB covers 512-byte and 4 KiB logical blocks. */
export const DIRECT_ALIGN = 4096;
/** Smaller writes go through the page cache: the gain is for block-sized ones. */
export const DIRECT_MIN_BYTES = 256 * 1024;
const WASM_PAGE = 65536;
/** Idle slots kept for reuse, per size. */
const POOL_LIMIT = 16;

export const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Aligned slots, pooled by size (the slots of one block size's writes are reused by the next). */
class AlignedSlots {
  readonly #free = new Map<number, Uint8Array[]>();

  /** A page-aligned slot of at least `bytes`; give it back with `release`. */
  acquire(bytes: number): Uint8Array {
    const size = roundUp(bytes, WASM_PAGE);
    const slot = this.#free.get(size)?.pop();
    if (slot) return slot;
    // Each slot is its own memory, so that the collector frees the ones the pool lets go.
    return new Uint8Array(new WebAssembly.Memory({ initial: size / WASM_PAGE, maximum: size / WASM_PAGE }).buffer);
  }

  release(slot: Uint8Array): void {
    const list = this.#free.get(slot.byteLength) ?? [];
    if (list.length < POOL_LIMIT) list.push(slot);
    this.#free.set(slot.byteLength, list);
  }
}

/** The process's aligned slots. */
export const alignedSlots = new AlignedSlots();
