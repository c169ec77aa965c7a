/**
 * The web dashboard, served by the scheduler on BLOCKVAULT_HTTP_LISTEN: the built page (static
 * files) and a read-only JSON API under /api/v1 whose bodies are the job API's messages in the
 * proto3 JSON mapping (what grpc-gateway would answer), behind the job API's tokens (Authorization:
 * Bearer, the `read` permission) when tokens are configured. Jobs stream as server-sent events.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { allows, bearerGrant, type TokenGrant } from '@blockvault/grpc-edge';
import { ErrorCode, InvalidArgumentError, isBlockvaultError, type EventBus } from '@blockvault/core';
import { Job, ListSchedulesResponse, ListVersionsResponse, Usage, VersionDetail } from '@blockvault/proto';
import { JOB_TYPES, type JobQueue } from './queue.ts';
import type { JobReads } from './job-service.ts';

export interface DashboardOptions {
  readonly reads: JobReads;
  readonly queue: JobQueue;
  /** Where recent events come from; undefined, or a bus that keeps none: /api/v1/events answers 501. */
  readonly events?: EventBus;
  /** The built page (index.html and its assets); undefined or missing: the API alone, and / says how to build it. */
  readonly assets?: string;
  /** Tokens accepted; undefined: any caller, as the job API without tokens. */
  readonly tokens?: readonly TokenGrant[];
  /** How often the job stream looks for changes. @default 500 */
  readonly pollMs?: number;
  readonly onDenied?: (e: { path: string; peer: string; reason: string }) => void;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.InvalidArgument]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.PermissionDenied]: 403,
  [ErrorCode.Unavailable]: 503,
};

export class DashboardServer {
  readonly #o: DashboardOptions;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();

  constructor(options: DashboardOptions) {
    this.#o = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#error(res, err));
    });
  }

  /** Listens on host:port (port 0: any); resolves the port bound. */
  async listen(host: string, port: number): Promise<{ port: number }> {
    await new Promise<void>((done, fail) => this.#server.once('error', fail).listen(port, host, done));
    const address = this.#server.address();
    return { port: typeof address === 'object' && address ? address.port : port };
  }

  async close(): Promise<void> {
    for (const res of this.#streams) res.end();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return this.#json(res, 405, { error: `${req.method} is not allowed: the dashboard only reads` });
    if (!url.pathname.startsWith('/api/')) return this.#asset(res, url.pathname);
    const refusal = this.#refusal(req);
    if (refusal) {
      this.#o.onDenied?.({ path: url.pathname, peer: req.socket.remoteAddress ?? '', reason: refusal.reason });
      return this.#json(
        res,
        refusal.status,
        { error: refusal.reason },
        refusal.status === 401 ? { 'www-authenticate': 'Bearer realm="blockvault"' } : {},
      );
    }
    const { reads } = this.#o;
    const path = url.pathname;
    const q = (name: string): string => url.searchParams.get(name) ?? '';
    if (path === '/api/v1/versions') {
      const valid = q('valid');
      if (valid && valid !== 'true' && valid !== 'false')
        throw new InvalidArgumentError(`valid must be true or false, not ${JSON.stringify(valid)}`);
      const list = await reads.listVersions({ name: q('name'), tag: q('tag') });
      const versions = valid ? list.versions.filter((v) => String(v.valid) === valid) : list.versions;
      return this.#json(res, 200, ListVersionsResponse.toJSON({ versions }));
    }
    const version = /^\/api\/v1\/versions\/([^/]+)$/.exec(path);
    if (version) return this.#json(res, 200, VersionDetail.toJSON(await reads.getVersion({ uid: decodeURIComponent(version[1]!) })));
    if (path === '/api/v1/usage') return this.#json(res, 200, Usage.toJSON(await reads.getUsage()));
    if (path === '/api/v1/schedules')
      return this.#json(res, 200, ListSchedulesResponse.toJSON(await reads.listSchedules({ name: q('name') })));
    if (path === '/api/v1/jobs') return this.#json(res, 200, { jobs: (await this.#jobs(q('type'))).map((j) => Job.toJSON(j)) });
    if (path === '/api/v1/jobs/stream') return this.#stream(req, res, q('type'));
    if (path === '/api/v1/events') {
      const limit = q('limit') ? Number(q('limit')) : 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw new InvalidArgumentError(`limit must be 1-500, not ${JSON.stringify(q('limit'))}`);
      const bus = this.#o.events;
      if (!bus?.recent) return this.#json(res, 501, { error: 'this event bus keeps no history' });
      // Newest first, each as its kind and fields with its id and time (NATS subscribers get the same as CloudEvents).
      return this.#json(res, 200, { events: [...(await bus.recent(limit))].reverse() });
    }
    return this.#json(res, 404, { error: `no such endpoint: ${path}` });
  }

  async #jobs(type: string): Promise<Job[]> {
    if (type && !(JOB_TYPES as readonly string[]).includes(type))
      throw new InvalidArgumentError(`type ${JSON.stringify(type.slice(0, 32))} is not a job type: one of ${JOB_TYPES.join(', ')}`);
    return this.#o.queue.list({ limit: 50, state: undefined, type: type || undefined });
  }

  /** Server-sent events: `jobs` with the newest 50 jobs, whenever any of them changes. */
  async #stream(req: IncomingMessage, res: ServerResponse, type: string): Promise<void> {
    await this.#jobs(type); // a bad filter is refused before the stream starts
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.#streams.add(res);
    let last = '';
    let beat = Date.now();
    const tick = async (): Promise<void> => {
      const data = JSON.stringify({ jobs: (await this.#jobs(type)).map((j) => Job.toJSON(j)) });
      if (data !== last) {
        last = data;
        beat = Date.now();
        res.write(`event: jobs\ndata: ${data}\n\n`);
      } else if (Date.now() - beat > 15_000) {
        beat = Date.now();
        res.write(': still here\n\n');
      }
    };
    const timer = setInterval(() => {
      tick().catch((err: unknown) => res.write(`event: problem\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`));
    }, this.#o.pollMs ?? 500);
    const stop = (): void => {
      clearInterval(timer);
      this.#streams.delete(res);
    };
    req.once('close', stop);
    res.once('close', stop);
    await tick();
  }

  #refusal(req: IncomingMessage): { status: number; reason: string } | undefined {
    const tokens = this.#o.tokens;
    if (!tokens) return undefined;
    const grant = bearerGrant(tokens, req.headers.authorization);
    if (grant === 'missing') return { status: 401, reason: 'a bearer token is required (the job API tokens, read permission)' };
    if (grant === 'unknown') return { status: 401, reason: 'unknown token' };
    if (!allows(grant, 'read', true)) return { status: 403, reason: `token ${grant.name} lacks the read permission` };
    return undefined;
  }

  async #asset(res: ServerResponse, pathname: string): Promise<void> {
    const { assets } = this.#o;
    const name =
      pathname === '/'
        ? 'index.html'
        : normalize(pathname)
            .replace(/^(\.\.[/\\])+/, '')
            .replace(/^[/\\]+/, '');
    const file = assets ? join(assets, name) : undefined;
    const found = file && file.startsWith(assets!) ? await stat(file).catch((_missing: unknown) => undefined) : undefined;
    if (!found?.isFile()) {
      if (pathname === '/')
        return this.#plain(res, 503, 'the dashboard page is not built: run npm run build (the JSON API under /api/v1 works without it)\n');
      return this.#plain(res, 404, `not found: ${pathname}\n`);
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file!)] ?? 'application/octet-stream',
      'content-length': found.size,
      // The page changes with each build; its assets carry no hash, so they are revalidated.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    });
    createReadStream(file!).pipe(res);
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(text);
  }

  #plain(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
  }

  #error(res: ServerResponse, err: unknown): void {
    const status = isBlockvaultError(err) ? (STATUS[err.code] ?? 500) : 500;
    if (res.headersSent) return void res.end();
    this.#json(res, status, { error: (err as Error).message, ...(isBlockvaultError(err) ? { code: err.code } : {}) });
  }
}
