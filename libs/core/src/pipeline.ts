/** Small concurrency helpers for the block pipelines: reused buffers and a task group. */

/** A fixed set of reusable buffers; `acquire` waits while all are in use (backpressure). */
export class BufferPool {
  readonly #free: Buffer[] = [];
  readonly #waiting: ((buf: Buffer) => void)[] = [];

  constructor(count: number, size: number) {
    for (let i = 0; i < count; i++) this.#free.push(Buffer.allocUnsafeSlow(size));
  }

  acquire(): Promise<Buffer> {
    const buf = this.#free.pop();
    if (buf) return Promise.resolve(buf);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(buf: Buffer): void {
    const next = this.#waiting.shift();
    if (next) next(buf);
    else this.#free.push(buf);
  }
}

/** Runs tasks concurrently, remembers the first failure, and waits for all of them. */
export class TaskGroup {
  readonly #running = new Set<Promise<void>>();
  #error: unknown;
  #failed = false;

  get failed(): boolean {
    return this.#failed;
  }

  /** Throws the first failure, if any, so that the caller stops scheduling. */
  check(): void {
    if (this.#failed) throw this.#error;
  }

  /** Waits until fewer than `limit` tasks run. */
  async below(limit: number): Promise<void> {
    while (this.#running.size >= limit) await Promise.race(this.#running);
  }

  spawn(task: () => Promise<void>): void {
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#error = err;
        }
      })
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  /** Waits for every task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
    this.check();
  }
}

/** Coalesces calls made in the same tick into one batch call (lookups against a database). */
export class Batcher<K, V> {
  readonly #fn: (keys: K[]) => Promise<V[]>;
  #keys: K[] = [];
  #waiters: { resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;

  constructor(fn: (keys: K[]) => Promise<V[]>) {
    this.#fn = fn;
  }

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#keys.push(key);
      this.#waiters.push({ resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const keys = this.#keys;
    const waiters = this.#waiters;
    this.#keys = [];
    this.#waiters = [];
    this.#scheduled = false;
    try {
      const values = await this.#fn(keys);
      waiters.forEach((w, i) => w.resolve(values[i] as V));
    } catch (err) {
      for (const w of waiters) w.reject(err);
    }
  }
}
