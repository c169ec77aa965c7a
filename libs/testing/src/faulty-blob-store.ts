import type { BlobStore } from '@blockvault/core';

/**
 * Wraps a BlobStore and fails puts on command (Kopia's faulty store): tests of the layers above
 * use it to interrupt a backup at an exact point.
 */
export class FaultyBlobStore implements BlobStore {
  readonly inner: BlobStore;
  puts = 0;
  /** Puts after this many succeed fail with `error`. */
  failAfterPuts = Infinity;
  error: Error = new Error('injected blob store failure');

  constructor(inner: BlobStore) {
    this.inner = inner;
  }

  async put(key: string, chunks: readonly Uint8Array[]): Promise<void> {
    if (this.puts >= this.failAfterPuts) throw this.error;
    this.puts++;
    await this.inner.put(key, chunks);
  }

  get(key: string): Promise<Buffer> {
    return this.inner.get(key);
  }

  stat(key: string): Promise<{ size: number } | undefined> {
    return this.inner.stat(key);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  list(prefix?: string): AsyncIterable<string> {
    return this.inner.list(prefix);
  }

  listWithDates(prefix?: string): AsyncIterable<{ key: string; modified: Date }> {
    return this.inner.listWithDates(prefix);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
