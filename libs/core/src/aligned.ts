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
/** Slots per arena, and the most one arena may hold. */
const ARENA_SLOTS = 16;
const ARENA_MAX_BYTES = 2 ** 31;

export const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Slots of one size carved from one WebAssembly memory. V8 reserves about 8 GiB of address space
 * for each memory (a process here runs out at about 16,000), so memories are few and long-lived
 * rather than one per slot, and an arena's pages become resident only as slots are written.
 */
class Arena {
  readonly #free: Uint8Array[] = [];

  constructor(slotSize: number, slots: number) {
    const pages = (slotSize * slots) / WASM_PAGE;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
    for (let i = slots - 1; i >= 0; i--) this.#free.push(new Uint8Array(memory, i * slotSize, slotSize));
  }

  take(): Uint8Array | undefined {
    return this.#free.pop();
  }

  give(slot: Uint8Array): void {
    this.#free.push(slot);
  }
}

/** Aligned slots in power-of-two sizes (so that blobs of many sizes share a few arenas). */
class AlignedSlots {
  readonly #arenas = new Map<number, Arena[]>();
  readonly #owner = new WeakMap<Uint8Array, Arena>();

  /**
   * A page-aligned slot of at least `bytes`; give it back with `release`. Undefined when no more
   * aligned memory can be had (the caller writes through the page cache then).
   */
  acquire(bytes: number): Uint8Array | undefined {
    const size = Math.max(WASM_PAGE, 2 ** Math.ceil(Math.log2(bytes)));
    const arenas = this.#arenas.get(size) ?? [];
    this.#arenas.set(size, arenas);
    for (const arena of arenas) {
      const slot = arena.take();
      if (slot) return this.#lend(slot, arena);
    }
    let arena: Arena;
    try {
      arena = new Arena(size, Math.max(1, Math.min(ARENA_SLOTS, Math.floor(ARENA_MAX_BYTES / size))));
    } catch (err) {
      // Out of address space for WebAssembly memories, or the size is past what one may hold.
      if (err instanceof RangeError) return undefined;
      throw err;
    }
    arenas.push(arena);
    return this.#lend(arena.take() as Uint8Array, arena);
  }

  release(slot: Uint8Array): void {
    const arena = this.#owner.get(slot);
    this.#owner.delete(slot);
    arena?.give(slot);
  }

  #lend(slot: Uint8Array, arena: Arena): Uint8Array {
    this.#owner.set(slot, arena);
    return slot;
  }
}

/** The process's aligned slots. */
export const alignedSlots = new AlignedSlots();
