/**
 * Prometheus metrics (prom-client's default registry) and the `/metrics` endpoint. Every
 * service process serves it when BLOCKVAULT_METRICS_LISTEN is set, with `/healthz` (the process
 * answers) and `/readyz` (it has started and reaches what it needs) beside it for probes.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, register } from 'prom-client';

let defaults = false;

/** Blocks and bytes by kind (read, written, dedup, sparse): counted when a backup finishes, from its stats. */
export const blocksTotal = new Counter({
  name: 'blockvault_backup_blocks_total',
  help: 'Blocks of finished backups by kind: read, written, dedup, sparse',
  labelNames: ['kind'] as const,
});
export const bytesTotal = new Counter({
  name: 'blockvault_backup_bytes_total',
  help: 'Bytes of finished backups by kind: read, written, dedup, sparse',
  labelNames: ['kind'] as const,
});
export const jobsTotal = new Counter({
  name: 'blockvault_jobs_total',
  help: 'Jobs finished, by type and outcome (succeeded, failed, cancelled, retried)',
  labelNames: ['type', 'outcome'] as const,
});
export const jobDuration = new Histogram({
  name: 'blockvault_job_duration_seconds',
  help: 'Duration of job attempts, by type and outcome',
  labelNames: ['type', 'outcome'] as const,
  buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
});
export const errorsTotal = new Counter({
  name: 'blockvault_errors_total',
  help: 'Errors by code (jobs that failed, calls refused)',
  labelNames: ['code'] as const,
});
let queueDepth: (() => Promise<number>) | undefined;

/** Where the queue depth comes from (the job queue of this process), read at each scrape. */
export function setQueueDepthSource(source: (() => Promise<number>) | undefined): void {
  queueDepth = source;
}

export const queuePending = new Gauge({
  name: 'blockvault_queue_pending_jobs',
  help: 'Jobs waiting in the work queue or delivered and not yet acknowledged (JetStream consumer)',
  async collect() {
    // A scrape while the queue is out of reach shows the gap (NaN) rather than failing the whole scrape.
    if (queueDepth) this.set(await queueDepth().catch((_unreachable: unknown) => Number.NaN));
  },
});
export const rpcDuration = new Histogram({
  name: 'blockvault_rpc_server_duration_seconds',
  help: 'gRPC server calls by service, method and status code',
  labelNames: ['service', 'method', 'code'] as const,
  buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60, 600],
});

/** Adds a backup's statistics to the block and byte counters. */
export function countBackup(stats: {
  blocksRead: number;
  bytesRead: number;
  blocksWritten: number;
  bytesWritten: number;
  blocksDedup: number;
  bytesDedup: number;
  blocksSparse: number;
  bytesSparse: number;
}): void {
  for (const [kind, blocks, bytes] of [
    ['read', stats.blocksRead, stats.bytesRead],
    ['written', stats.blocksWritten, stats.bytesWritten],
    ['dedup', stats.blocksDedup, stats.bytesDedup],
    ['sparse', stats.blocksSparse, stats.bytesSparse],
  ] as const) {
    blocksTotal.inc({ kind }, blocks);
    bytesTotal.inc({ kind }, bytes);
  }
}

export interface MetricsServer {
  readonly port: number;
  stop(): Promise<void>;
}

export interface HealthOptions {
  /** Why the process is not ready (answered 503), or undefined when it is (200). */
  readonly notReady?: () => string | undefined;
}

/** Serves GET /metrics, /healthz and /readyz on `listen` (host:port; port 0: any). */
export async function serveMetrics(listen: string, health: HealthOptions = {}): Promise<MetricsServer> {
  if (!defaults) {
    collectDefaultMetrics({ prefix: 'blockvault_process_' });
    defaults = true;
  }
  const at = listen.lastIndexOf(':');
  const [host, port] = [listen.slice(0, at), Number(listen.slice(at + 1))];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || !['/metrics', '/healthz', '/readyz'].includes(path!)) {
      res.writeHead(404).end();
      return;
    }
    if (path !== '/metrics') {
      const reason = path === '/readyz' ? health.notReady?.() : undefined;
      res.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain; charset=utf-8' }).end(reason ? `not ready: ${reason}\n` : 'ok\n');
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((done, fail) => server.once('error', fail).listen(port, host, done));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    stop: () => new Promise((done) => server.close(() => done())),
  };
}
