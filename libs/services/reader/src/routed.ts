/**
 * File and RBD I/O routed to the reader service that reaches each URL: the live readers announce
 * their roots and pools (ReaderDirectory); a file goes to the reader whose root holds it (the
 * longest such root), an rbd:// image to a reader of its pool, and a reader announcing neither
 * roots nor pools serves whatever no other reader claims. No live reader for a URL is
 * FAILED_PRECONDITION, naming the readers there are.
 */
import {
  ConflictError,
  type BlockScanner,
  type BlockSource,
  type BlockTarget,
  type Hint,
  type IoModule,
  type OpenTargetOptions,
  type ReaderDirectory,
  type ReaderEntry,
  type ScanSpec,
} from '@blockvault/core';
import type { ClientSecurity } from '@blockvault/grpc-edge';
import { RemoteIo } from './client.ts';

/** How long a list of live readers is used before it is asked for again. */
const LIVE_CACHE_MS = 2000;

/** The reader for `url` among `readers`, or undefined. */
export function readerFor(url: URL, readers: readonly ReaderEntry[]): ReaderEntry | undefined {
  const open = readers.filter((r) => r.roots.length === 0 && r.pools.length === 0);
  if (url.protocol === 'rbd:') {
    const pool = url.hostname || url.pathname.split('/').filter(Boolean)[0] || '';
    return readers.find((r) => r.pools.includes(pool)) ?? open[0];
  }
  const path = decodeURIComponent(url.pathname);
  let best: { reader: ReaderEntry; length: number } | undefined;
  for (const r of readers) {
    for (const root of r.roots) {
      const dir = root.endsWith('/') ? root : `${root}/`;
      if ((path === root || path.startsWith(dir)) && (!best || root.length > best.length)) best = { reader: r, length: root.length };
    }
  }
  return best?.reader ?? open[0];
}

export class RoutedIo implements IoModule {
  readonly scheme: string;
  readonly #directory: ReaderDirectory;
  readonly #security: ClientSecurity | undefined;
  readonly #clients = new Map<string, RemoteIo>();
  #cached: { at: number; readers: Promise<ReaderEntry[]> } | undefined;

  constructor(scheme: string, directory: ReaderDirectory, security?: ClientSecurity) {
    this.scheme = scheme;
    this.#directory = directory;
    this.#security = security;
  }

  async #route(url: URL): Promise<RemoteIo> {
    const now = performance.now();
    if (!this.#cached || now - this.#cached.at > LIVE_CACHE_MS) {
      const readers = this.#directory.live();
      this.#cached = { at: now, readers };
      readers.catch((_notCached: unknown) => (this.#cached = undefined));
    }
    const readers = await this.#cached.readers;
    const reader = readerFor(url, readers);
    if (!reader) {
      const known = readers.map((r) => `${r.address} (${[...r.roots, ...r.pools.map((p) => `rbd:${p}`)].join(', ') || 'anything'})`);
      throw new ConflictError(
        `no live reader serves ${url.href}: ${known.length > 0 ? `the readers are ${known.join('; ')}` : 'no reader has announced itself in NATS'}`,
      );
    }
    let client = this.#clients.get(reader.address);
    if (!client) {
      client = new RemoteIo(this.scheme, reader.address, this.#security);
      this.#clients.set(reader.address, client);
    }
    return client;
  }

  async openSource(url: URL): Promise<BlockSource> {
    return (await this.#route(url)).openSource(url);
  }

  async openTarget(url: URL, options: OpenTargetOptions): Promise<BlockTarget> {
    return (await this.#route(url)).openTarget(url, options);
  }

  async openScanner(url: URL, spec: ScanSpec): Promise<BlockScanner | undefined> {
    return (await this.#route(url)).openScanner(url, spec);
  }

  async check(url: URL): Promise<void> {
    return (await this.#route(url)).check(url);
  }

  async deriveHints(url: URL, fromSnapshot: string | null): Promise<Hint[] | undefined> {
    return (await this.#route(url)).deriveHints(url, fromSnapshot);
  }
}
