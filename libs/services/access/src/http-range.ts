/**
 * The HTTP range endpoint: `GET /v1/versions/{uid}/raw` serves a version's bytes, whole (200) or
 * one range (206 with Content-Range, RFC 9110), `HEAD` its length; Accept-Ranges: bytes. The
 * content of a version never changes, so its uid is its ETag. Behind the job API's tokens
 * (Authorization: Bearer, the `read` permission) when tokens are configured.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DamagedBlocksError, NotFoundError } from '@blockvault/core';
import { allows, bearerGrant, type TokenGrant } from '@blockvault/grpc-edge';
import type { ExportCatalog, ExportedVersion } from './nbd-server.ts';

export interface HttpRangeOptions {
  readonly exports: ExportCatalog;
  /** Tokens accepted (Bearer); undefined: no authentication, as the job API without tokens. */
  readonly tokens?: readonly TokenGrant[];
  readonly onWarning?: (message: string) => void;
  /**
   * Serves under this path (`/PREFIX/v1/versions/{uid}/raw`): a private endpoint with an
   * unguessable prefix, for a client that cannot send a token (librbd's http stream). @default ''
   */
  readonly basePath?: string;
}

const PATH = /^\/v1\/versions\/([^/]+)\/raw$/;
/** Bytes read from the version per piece of a response body. */
const PIECE = 4 * 1024 * 1024;

/** A single byte range of a resource of `size` bytes: [start, end] inclusive; 'unsatisfiable'; or undefined to serve it whole. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: served whole, as RFC 9110 allows a server to ignore Range.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export class HttpRangeServer {
  readonly #o: HttpRangeOptions;
  readonly #server: Server;

  constructor(options: HttpRangeOptions) {
    this.#o = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#o.onWarning?.(`HTTP ${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) this.#plain(res, 500, 'internal error; see the server log');
        else res.destroy();
      });
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((done, fail) => {
      this.#server.once('error', fail);
      this.#server.listen(port, host, () => {
        this.#server.off('error', fail);
        done(this.#server.address() as AddressInfo);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((done) => this.#server.close(() => done()));
    this.#server.closeAllConnections();
    await closed;
  }

  #plain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(`${message}\n`);
  }

  /** The grant of the request's bearer token; 'missing' or 'unknown' when refused. */
  #authorize(req: IncomingMessage): TokenGrant | 'missing' | 'unknown' | undefined {
    return this.#o.tokens && bearerGrant(this.#o.tokens, req.headers.authorization);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const full = new URL(req.url ?? '/', 'http://x').pathname;
    const base = this.#o.basePath ?? '';
    const path = full.startsWith(`${base}/`) ? full.slice(base.length) : '';
    const match = PATH.exec(path);
    if (!match) return this.#plain(res, 404, 'not found: GET /v1/versions/{uid}/raw');
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.#plain(res, 405, 'GET or HEAD', { allow: 'GET, HEAD' });
    const grant = this.#authorize(req);
    if (grant === 'missing' || grant === 'unknown') {
      return this.#plain(res, 401, grant === 'missing' ? 'a bearer token is required' : 'unknown token', {
        'www-authenticate': 'Bearer realm="blockvault"',
      });
    }
    if (this.#o.tokens && !allows(grant, 'read', true)) return this.#plain(res, 403, `token ${grant?.name} lacks the read permission`);
    const uid = decodeURIComponent(match[1] as string);
    let opened: { reader: ExportedVersion } | undefined;
    try {
      opened = await this.#o.exports.open(uid);
    } catch (err) {
      if (err instanceof NotFoundError) opened = undefined;
      else throw err;
    }
    if (!opened) return this.#plain(res, 404, `no valid version ${uid}`);
    const { reader } = opened;
    const size = reader.sizeBytes;
    const common = {
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      etag: `"${reader.version.uid}"`,
      'last-modified': reader.version.date.toUTCString(),
      'content-disposition': `attachment; filename="${reader.version.name}-${reader.version.uid}.img"`,
    };
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') return this.#plain(res, 416, `range not satisfiable`, { 'content-range': `bytes */${size}` });
    const [start, end] = range ? [range.start, range.end] : [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    const head = {
      ...common,
      'content-length': String(length),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    };
    if (req.method === 'HEAD' || length === 0) {
      res.writeHead(range ? 206 : 200, head);
      return void res.end();
    }
    for (let at = start; at <= end; at += PIECE) {
      const n = Math.min(PIECE, end + 1 - at);
      let data: Buffer;
      try {
        data = await reader.read(at, n);
      } catch (err) {
        this.#o.onWarning?.(`HTTP ${uid} at ${at}: ${(err as Error).message}`);
        // Before the status is sent (a range within one piece, as block clients ask): a clear
        // error status. After it: break the body off, so the client sees a short read, not wrong bytes.
        if (!res.headersSent) {
          const damaged = err instanceof DamagedBlocksError;
          return this.#plain(
            res,
            damaged ? 500 : 503,
            damaged ? `damaged blocks in this range: ${(err as Error).message}` : 'cannot read the version now',
          );
        }
        res.destroy();
        return;
      }
      if (!res.headersSent) res.writeHead(range ? 206 : 200, head);
      if (!res.write(data))
        await new Promise((r) => {
          res.once('drain', r);
          res.once('close', r);
        });
      if (res.destroyed) return;
    }
    res.end();
  }
}
