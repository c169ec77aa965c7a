/**
 * The live reader services, in a NATS KV bucket: each reader puts its entry (address, roots,
 * pools) under its id and puts it again every third of the bucket's TTL; the server drops an
 * entry its reader stopped renewing (a killed pod) after the TTL, and a reader that stops deletes
 * its own at once.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, type ReaderDirectory, type ReaderEntry } from '@blockvault/core';

export const READERS_BUCKET = 'blockvault_readers';
/** How long a reader's entry outlives its last renewal. */
export const DEFAULT_READER_TTL_MS = 15_000;

function unavailable(what: string, err: unknown): UnavailableError {
  return new UnavailableError(`NATS: cannot ${what}: ${(err as Error).message}`, { cause: err });
}

/** KV keys allow A-Z a-z 0-9 _ - . = /; anything else in an id becomes _. */
const keyOf = (id: string): string => id.replace(/[^A-Za-z0-9_.=/-]/g, '_');

export class NatsReaderDirectory implements ReaderDirectory {
  readonly #kv: KV;
  readonly #ttlMs: number;

  private constructor(kv: KV, ttlMs: number) {
    this.#kv = kv;
    this.#ttlMs = ttlMs;
  }

  static async open(nc: NatsConnection, ttlMs = DEFAULT_READER_TTL_MS): Promise<NatsReaderDirectory> {
    try {
      return new NatsReaderDirectory(await new Kvm(nc).create(READERS_BUCKET, { history: 1, ttl: ttlMs }), ttlMs);
    } catch (err) {
      throw unavailable(`open the KV bucket ${READERS_BUCKET}`, err);
    }
  }

  async announce(entry: ReaderEntry): Promise<{ stop(): Promise<void> }> {
    const key = keyOf(entry.id);
    const put = async (): Promise<void> => {
      await this.#kv.put(key, JSON.stringify(entry));
    };
    try {
      await put();
    } catch (err) {
      throw unavailable(`announce reader ${entry.address}`, err);
    }
    // A renewal that fails (NATS restarting) is tried again at the next tick; the entry lives a TTL.
    const timer = setInterval(() => void put().catch((_retriedNextTick: unknown) => undefined), Math.max(100, this.#ttlMs / 3));
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        await this.#kv.delete(key).catch((_expires: unknown) => undefined);
      },
    };
  }

  async live(): Promise<ReaderEntry[]> {
    try {
      const entries: ReaderEntry[] = [];
      for await (const key of await this.#kv.keys()) {
        const e = await this.#kv.get(key);
        if (e && e.operation === 'PUT' && e.value.length > 0) entries.push(JSON.parse(e.string()) as ReaderEntry);
      }
      return entries.sort((a, b) => a.id.localeCompare(b.id));
    } catch (err) {
      throw unavailable('list the live readers', err);
    }
  }
}
