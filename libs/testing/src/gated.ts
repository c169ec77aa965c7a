/**
 * Pauses chosen calls of a port so that tests can force an interleaving exactly: `gate.next(m)`
 * makes the next call of method `m` wait until the test releases it.
 */
export interface Pause {
  /** Resolves when the paused call has arrived (it is now waiting). */
  readonly reached: Promise<void>;
  /** Lets the paused call go on. */
  release(): void;
}

export class Gate {
  readonly #pending = new Map<string, { arrived: () => void; wait: Promise<void> }[]>();

  /** Pauses the next call of `method`. */
  next(method: string): Pause {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const wait = new Promise<void>((r) => (release = r));
    const queue = this.#pending.get(method) ?? [];
    queue.push({ arrived, wait });
    this.#pending.set(method, queue);
    return { reached, release };
  }

  /** Wraps `target`: every method call passes through the gate first. */
  wrap<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return async (...args: unknown[]) => {
          const pause = this.#pending.get(prop)?.shift();
          if (pause) {
            pause.arrived();
            await pause.wait;
          }
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
  }
}
