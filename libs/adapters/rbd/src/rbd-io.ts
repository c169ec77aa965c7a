/**
 * `rbd://pool/image@snapshot` sources and `rbd://pool/image` restore targets.
 *
 * Block data goes through librbd (Debian's python3-rbd, in a helper process speaking a small
 * framed protocol: rbd-helper.py), which reads any offset of a snapshot directly: a backup reads
 * only the blocks it needs (changed extents, sanity-check blocks), and a restore writes only its
 * blocks. No kernel device is needed. Change lists come from the `rbd` tool: `rbd diff
 * --whole-object --format json` (allocated extents, or changes since the base version's snapshot
 * when that snapshot still exists).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  TargetExistsError,
  UnavailableError,
  UnsupportedUrlError,
  parseHints,
  zeroBuffer,
  type BlockSource,
  type BlockTarget,
  type Hint,
  type IoModule,
  type OpenTargetOptions,
} from '@blockvault/core';

const run = promisify(execFile);
const HELPER = resolve(import.meta.dirname, 'rbd-helper.py');
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export interface RbdOptions {
  /** Python with Debian's python3-rbd. @default /usr/bin/python3 */
  readonly python?: string;
  /** Environment for librbd and the rbd tool (CEPH_CONF, CEPH_ARGS). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The pools sources and targets must be in; undefined: any pool the Ceph user reaches. */
  readonly pools?: readonly string[];
}

export interface LiveImportHooks {
  /** The image exists and reads the version (blocks not copied yet come from the source). */
  readonly onUsable?: () => void;
  /** The copy's progress, 0-100. */
  readonly onProgress?: (percent: number) => void;
}

export interface RbdName {
  readonly pool: string;
  readonly image: string;
  readonly snapshot: string | null;
}

export function parseRbdUrl(url: URL): RbdName {
  const pool = decodeURIComponent(url.hostname);
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const at = path.indexOf('@');
  const image = at === -1 ? path : path.slice(0, at);
  const snapshot = at === -1 ? null : path.slice(at + 1);
  const bad = (what: string, value: string): never => {
    throw new UnsupportedUrlError(
      url.href,
      `invalid ${what} ${JSON.stringify(value)}: use rbd://pool/image[@snapshot] with names of A-Z a-z 0-9 _ . + -`,
    );
  };
  if (!NAME.test(pool)) bad('pool', pool);
  if (!NAME.test(image)) bad('image', image);
  if (snapshot !== null && !NAME.test(snapshot)) bad('snapshot', snapshot);
  if (url.port) bad('pool', `${pool}:${url.port}`);
  return { pool, image, snapshot };
}

/** One librbd image handle in a helper process; requests are answered in order. */
class RbdHandle {
  readonly sizeBytes: number;
  readonly #child: ChildProcess;
  readonly #pending: { resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #failed: Error | undefined;

  private constructor(child: ChildProcess, sizeBytes: number) {
    this.#child = child;
    this.sizeBytes = sizeBytes;
  }

  static async open(python: string, env: NodeJS.ProcessEnv, name: RbdName, mode: string, what: string): Promise<RbdHandle> {
    const child = spawn(python, [HELPER, name.pool, name.image, name.snapshot ?? '', mode], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<{ kind: string; body: Buffer }>((done, fail) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          child.stdout?.off('data', onData);
          const body = buf.subarray(5, 5 + buf.readUInt32BE(1));
          const rest = buf.subarray(5 + body.length);
          if (rest.length > 0) child.stdout?.unshift(rest);
          done({ kind: String.fromCharCode(buf[0] as number), body });
        }
      };
      child.stdout?.on('data', onData);
      child.once('error', (err) => fail(new UnavailableError(`cannot start the RBD helper (${python}): ${err.message}`, { cause: err })));
      child.once('exit', (code) =>
        fail(new UnavailableError(`the RBD helper for ${what} exited (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`)),
      );
    });
    if (first.kind === 'E') {
      child.kill();
      throw helperError(first.body.toString(), what);
    }
    const handle = new RbdHandle(child, (JSON.parse(first.body.toString()) as { size: number }).size);
    child.stdout?.on('data', (d: Buffer) => handle.#onData(d));
    child.once('exit', () =>
      handle.#fail(new UnavailableError(`the RBD helper for ${what} stopped: ${stderr.trim().split('\n').at(-1) ?? ''}`)),
    );
    return handle;
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const p of this.#pending.splice(0)) p.reject(err);
  }

  #onData(d: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, d]) : d;
    while (this.#buffer.length > 0) {
      const kind = String.fromCharCode(this.#buffer[0] as number);
      let body: Buffer = Buffer.alloc(0);
      let used = 1;
      if (kind === 'D' || kind === 'E') {
        if (this.#buffer.length < 5) return;
        const n = this.#buffer.readUInt32BE(1);
        if (this.#buffer.length < 5 + n) return;
        body = this.#buffer.subarray(5, 5 + n);
        used = 5 + n;
      }
      this.#buffer = this.#buffer.subarray(used);
      const p = this.#pending.shift();
      if (kind === 'E') p?.reject(helperError(body.toString(), 'RBD I/O'));
      else p?.resolve(body);
    }
  }

  request(frame: Buffer, payload?: Uint8Array): Promise<Buffer> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#child.stdin?.write(frame);
      if (payload) this.#child.stdin?.write(payload);
    });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.stdin?.end(Buffer.from('Q'));
    await exited;
  }
}

function helperError(message: string, what: string): Error {
  if (message.startsWith('not-found')) return new NotFoundError(`${what}: no such pool, image or snapshot (${message.slice(11)})`);
  if (message.startsWith('exists')) return new AlreadyExistsError(`${what}: the image already exists`);
  return new UnavailableError(`${what}: ${message}`);
}

function frame(kind: string, ...fields: [number, 'u32' | 'u64'][]): Buffer {
  const size = 1 + fields.reduce((n, [, t]) => n + (t === 'u32' ? 4 : 8), 0);
  const b = Buffer.alloc(size);
  b.write(kind, 0, 'latin1');
  let at = 1;
  for (const [v, t] of fields) {
    if (t === 'u32') at = b.writeUInt32BE(v, at);
    else at = b.writeBigUInt64BE(BigInt(v), at);
  }
  return b;
}

class RbdSource implements BlockSource {
  readonly url: string;
  readonly sizeBytes: number;
  readonly #h: RbdHandle;

  constructor(url: string, h: RbdHandle) {
    this.url = url;
    this.#h = h;
    this.sizeBytes = h.sizeBytes;
  }

  async read(offset: number, length: number, into: Buffer): Promise<number> {
    const data = await this.#h.request(frame('R', [offset, 'u64'], [length, 'u32']));
    data.copy(into, 0);
    return data.length;
  }

  close(): Promise<void> {
    return this.#h.close();
  }
}

class RbdTarget implements BlockTarget {
  readonly url: string;
  readonly #h: RbdHandle;
  /** A new image, or one discarded whole when opened: every byte not written reads as zero. */
  readonly #empty: boolean;

  constructor(url: string, h: RbdHandle, empty: boolean) {
    this.url = url;
    this.#h = h;
    this.#empty = empty;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    await this.#h.request(frame('W', [offset, 'u64'], [data.length, 'u32']), data);
  }

  /**
   * Zeros cost nothing in an image that starts empty (nor allocate its objects); a continued
   * restore writes them (a partial discard may be skipped by librbd and read back old bytes).
   */
  async zero(offset: number, length: number): Promise<void> {
    if (!this.#empty) await this.write(offset, zeroBuffer(length));
  }

  async finish(sizeBytes: number): Promise<void> {
    if (this.#h.sizeBytes !== sizeBytes) await this.#h.request(frame('S', [sizeBytes, 'u64']));
    await this.#h.request(frame('F'));
  }

  close(): Promise<void> {
    return this.#h.close();
  }
}

export class RbdIo implements IoModule {
  readonly scheme = 'rbd';
  readonly #python: string;
  readonly #env: NodeJS.ProcessEnv;

  readonly #pools: readonly string[] | undefined;

  constructor(options: RbdOptions = {}) {
    this.#python = options.python ?? '/usr/bin/python3';
    this.#env = options.env ?? process.env;
    this.#pools = options.pools;
  }

  /** Refuses images outside the allowed pools, before anything is opened. */
  async check(url: URL): Promise<void> {
    const { pool } = parseRbdUrl(url);
    if (this.#pools && !this.#pools.includes(pool)) {
      throw new PermissionDeniedError(
        `${url.href}: pool ${pool} is outside this reader's I/O roots (pools: ${this.#pools.join(', ') || 'none'})`,
      );
    }
  }

  async openSource(url: URL): Promise<BlockSource> {
    await this.check(url);
    const name = parseRbdUrl(url);
    if (!name.snapshot)
      throw new UnsupportedUrlError(url.href, 'back up a snapshot: rbd://pool/image@snapshot (a live image changes while it is read)');
    return new RbdSource(url.href, await RbdHandle.open(this.#python, this.#env, name, 'read', url.href));
  }

  async openTarget(url: URL, options: OpenTargetOptions): Promise<BlockTarget> {
    await this.check(url);
    const name = parseRbdUrl(url);
    if (name.snapshot) throw new UnsupportedUrlError(url.href, 'restore into an image, not a snapshot: rbd://pool/image');
    const exists = await this.#exists(name);
    if (exists && !options.force && !options.resume) throw new TargetExistsError(url.href);
    if (!exists && options.resume)
      throw new NotFoundError(`target ${url.href} does not exist; a restore can only continue into the image it started`);
    const mode = exists ? 'write' : `create:${options.sizeBytes}`;
    const h = await RbdHandle.open(this.#python, this.#env, name, mode, url.href);
    if (exists && !options.resume) {
      // A fresh restore over an existing image starts from zeros, so --sparse holes read as zeros.
      if (h.sizeBytes !== options.sizeBytes) await h.request(frame('S', [options.sizeBytes, 'u64']));
      await h.request(frame('Z', [0, 'u64'], [options.sizeBytes, 'u64']));
    }
    return new RbdTarget(url.href, h, !options.resume);
  }

  /**
   * Hints from RBD itself: the extents changed since `fromSnapshot` when that snapshot still
   * exists, else (no base) the allocated extents. Undefined when no base snapshot is left.
   */
  async deriveHints(url: URL, fromSnapshot: string | null): Promise<Hint[] | undefined> {
    await this.check(url);
    const name = parseRbdUrl(url);
    if (fromSnapshot !== null && !(await this.#snapshots(name)).includes(fromSnapshot)) return undefined;
    const spec = `${name.pool}/${name.image}@${name.snapshot}`;
    const args = ['diff', '--whole-object', '--format', 'json', ...(fromSnapshot ? ['--from-snap', fromSnapshot] : []), spec];
    return parseHints(await this.#rbd(args, spec), `rbd diff ${spec}`);
  }

  /**
   * Instant restore: creates `url` as an import-only live migration whose source is the raw image
   * at `sourceUrl` (an HTTP server that answers Range requests, Ceph Pacific or later), so the
   * image is usable as soon as `onUsable` is called; then copies every block (`rbd migration
   * execute`) and commits. On any failure the migration is aborted, which removes the new image:
   * no half image is left behind. The source must keep serving until this resolves.
   */
  async importLive(url: URL, sourceUrl: string, hooks: LiveImportHooks = {}): Promise<void> {
    await this.check(url);
    const name = parseRbdUrl(url);
    if (name.snapshot) throw new UnsupportedUrlError(url.href, 'restore into an image, not a snapshot: rbd://pool/image');
    if (await this.#exists(name)) throw new TargetExistsError(url.href);
    const spec = `${name.pool}/${name.image}`;
    const sourceSpec = JSON.stringify({ type: 'raw', stream: { type: 'http', url: sourceUrl } });
    await this.#rbd(['migration', 'prepare', '--import-only', '--source-spec', sourceSpec, spec], spec);
    try {
      hooks.onUsable?.();
      await this.#execute(spec, hooks.onProgress);
      await this.#rbd(['migration', 'commit', spec], spec);
    } catch (err) {
      await this.#rbd(['migration', 'abort', spec], spec).catch((abortErr: unknown) => {
        throw new UnavailableError(
          `${(err as Error).message}; aborting the migration failed too (${(abortErr as Error).message}): remove ${spec} with rbd migration abort ${spec}`,
          { cause: err },
        );
      });
      throw err;
    }
  }

  /** `rbd migration execute`, reporting its percentages. */
  #execute(spec: string, onProgress?: (percent: number) => void): Promise<void> {
    return new Promise((done, fail) => {
      const child = spawn('rbd', ['migration', 'execute', spec], { env: this.#env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        for (const m of d.toString().matchAll(/(\d+)% complete/g)) onProgress?.(Number(m[1]));
        if (stderr.length > 65_536) stderr = stderr.slice(-16_384);
      });
      child.once('error', (err) => fail(new UnavailableError(`rbd migration execute ${spec}: ${err.message}`, { cause: err })));
      child.once('exit', (code) => {
        if (code === 0) return done();
        const last =
          stderr
            .replace(/Image migration: \d+% complete\.\.\./g, '')
            .trim()
            .split('\n')
            .at(-1) ?? '';
        fail(new UnavailableError(`rbd migration execute ${spec} failed (exit ${code}): ${last || 'no message'}`));
      });
    });
  }

  async #snapshots(name: RbdName): Promise<string[]> {
    const spec = `${name.pool}/${name.image}`;
    return (JSON.parse(await this.#rbd(['snap', 'ls', '--format', 'json', spec], spec)) as { name: string }[]).map((s) => s.name);
  }

  async #exists(name: RbdName): Promise<boolean> {
    const spec = `${name.pool}/${name.image}`;
    try {
      await this.#rbd(['info', '--format', 'json', spec], spec);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async #rbd(args: string[], spec: string): Promise<string> {
    try {
      return (await run('rbd', args, { env: this.#env, timeout: 120_000, maxBuffer: 256 * 1024 * 1024 })).stdout;
    } catch (err) {
      const e = err as { code?: string | number; stderr?: string };
      if (e.code === 'ENOENT') throw new UnavailableError('the rbd tool is not installed (Debian package ceph-common)');
      const message = (e.stderr ?? '').trim().split('\n').at(-1) ?? String(err);
      if (/No such file or directory|does not exist|error opening/i.test(message)) throw new NotFoundError(`${spec}: ${message}`);
      if (/Invalid argument/i.test(message)) throw new InvalidArgumentError(`${spec}: ${message}`);
      throw new UnavailableError(`rbd ${args[0]} ${spec} failed: ${message}`, { cause: err });
    }
  }
}
