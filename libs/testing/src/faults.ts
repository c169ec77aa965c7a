/**
 * Fault injection for any port (Kopia's `blobtesting/faulty.go`): per-method queues of faults that
 * the next calls meet, each failing with a given error, waiting a while, or hanging until the test
 * releases it. Wrap a blob store, a metadata store or anything else:
 *
 *   const faults = new Faults();
 *   const store = faults.wrap(realStore);
 *   faults.fail('put', new UnavailableError('down'), { after: 3, times: Infinity });
 */
import type { Pause } from './gated.ts';

export interface FaultOptions {
  /** Calls that pass untouched before this fault applies. @default 0 */
  readonly after?: number;
  /** How many calls it applies to. @default 1 */
  readonly times?: number;
}

interface Fault {
  skip: number;
  left: number;
  apply(): Promise<void>;
}

export class Faults {
  readonly #queues = new Map<string, Fault[]>();
  readonly #calls = new Map<string, number>();

  /** The next call(s) of `method` fail with `error` instead of reaching the store. */
  fail(method: string, error: Error, options: FaultOptions = {}): void {
    this.#add(method, options, async () => {
      throw error;
    });
  }

  /** The next call(s) of `method` wait `ms` first. */
  delay(method: string, ms: number, options: FaultOptions = {}): void {
    this.#add(method, options, () => new Promise((done) => setTimeout(done, ms)));
  }

  /** The next call of `method` hangs until released; `reached` resolves once it hangs. */
  hang(method: string, options: Omit<FaultOptions, 'times'> = {}): Pause {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    this.#add(method, options, async () => {
      arrived();
      await released;
    });
    return { reached, release };
  }

  /** Drops the faults still queued for `method` (every method when omitted). */
  clear(method?: string): void {
    if (method === undefined) this.#queues.clear();
    else this.#queues.delete(method);
  }

  /** Calls of `method` that reached the wrapper. */
  calls(method: string): number {
    return this.#calls.get(method) ?? 0;
  }

  wrap<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        const fn = value as (...a: unknown[]) => unknown;
        return (...args: unknown[]) => {
          this.#calls.set(prop, this.calls(prop) + 1);
          const fault = this.#take(prop);
          // Untouched calls keep their shape (listings return async iterables, not promises).
          if (!fault) return fn.apply(obj, args);
          return fault.apply().then(() => fn.apply(obj, args));
        };
      },
    });
  }

  #add(method: string, options: FaultOptions, apply: () => Promise<void>): void {
    const queue = this.#queues.get(method) ?? [];
    queue.push({ skip: options.after ?? 0, left: options.times ?? 1, apply });
    this.#queues.set(method, queue);
  }

  #take(method: string): Fault | undefined {
    const fault = this.#queues.get(method)?.[0];
    if (!fault) return undefined;
    if (fault.skip > 0) {
      fault.skip--;
      return undefined;
    }
    if (--fault.left <= 0) this.#queues.get(method)!.shift();
    return fault;
  }
}
