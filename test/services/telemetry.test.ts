/**
 * Every block traced across processes: a backup through the five services apart (reader,
 * blob-store and metadata services, scheduler, worker), each exporting OTLP/HTTP to a real
 * receiver started here. Each sampled block's spans share the job's trace with the right
 * parents across the worker (read, hash, dedup), the reader, the blob-store (new blocks) and
 * the metadata service; the worker's logs carry the trace id; /metrics equals the stats.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { JobState } from '@blockvault/proto';
import {
  BLOCKVAULT_BIN,
  buildImage,
  cli,
  startNats,
  startOtlpReceiver,
  tempDir,
  type NatsServer,
  type OtlpReceiver,
  type ReceivedSpan,
  type TempDir,
} from '@blockvault/testing';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { client, EventRecorder, submit, watch } from './harness.ts';

const BS = 64 * 1024;
let nats: NatsServer;
let dir: TempDir;
let otlp: OtlpReceiver;
const procs: { target: string; child: ChildProcess; stderr: string[]; metricsPort: number | null }[] = [];
const serviceUrls: Record<string, string> = {};

function start(target: string): Promise<{ port: number | null }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_') && !k.startsWith('OTEL_')));
  const env = {
    ...clean,
    ...serviceUrls,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    BLOCKVAULT_TRACE_BLOCKS: '1',
    BLOCKVAULT_METRICS_LISTEN: '127.0.0.1:0',
  };
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', dir.file('home'), 'serve', '--target', target, '--listen', '127.0.0.1:0', '--nats', nats.url],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const entry = { target, child, stderr: [] as string[], metricsPort: null as number | null };
  child.stderr?.on('data', (d: Buffer) => entry.stderr.push(d.toString()));
  procs.push(entry);
  return new Promise((done, fail) => {
    child.stdout?.once('data', (d: Buffer) => {
      const info = JSON.parse(d.toString()) as { port: number | null; metricsPort: number | null };
      entry.metricsPort = info.metricsPort;
      done(info);
    });
    child.once('exit', (code) => fail(new Error(`${target} exited with ${code}: ${entry.stderr.join('')}`)));
  });
}

async function stopAll(): Promise<void> {
  // Workers and the scheduler first; each flushes its spans on SIGTERM.
  for (const { child } of [...procs].reverse()) {
    if (child.exitCode === null) await new Promise((done) => (child.once('exit', done), child.kill('SIGTERM')));
  }
}

let jobId = '';
let stats: Record<string, number> = {};
let metricsText = '';
/** Each service's /readyz while it runs: [status, body]. */
const readiness: Record<string, [number, string]> = {};
let events: EventRecorder;
let nc: NatsConnection | undefined;
const serviceMetrics: Record<'blob-store' | 'reader', string> = { 'blob-store': '', reader: '' };

/** Completed calls of one gRPC method, from a service's /metrics (0 when it never served one). */
function calls(text: string, service: string, method: string): number {
  const line = new RegExp(
    `^blockvault_rpc_server_duration_seconds_count\\{service="${service}",method="${method}",code="OK"\\} (\\d+)`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? 0);
}

before(async () => {
  otlp = await startOtlpReceiver();
  nats = await startNats();
  dir = await tempDir();
  assert.equal((await cli(['--home', dir.file('home'), 'init', '--block-size', String(BS), '--blocks-per-segment', '4'])).code, 0);
  serviceUrls['BLOCKVAULT_METADATA_URL'] = `127.0.0.1:${(await start('metadata')).port}`;
  serviceUrls['BLOCKVAULT_BLOBSTORE_URL'] = `127.0.0.1:${(await start('blob-store')).port}`;
  serviceUrls['BLOCKVAULT_READER_URL'] = `127.0.0.1:${(await start('reader')).port}`;
  const api = (await start('scheduler')).port as number;
  await start('worker');
  // Distinct blocks, a duplicate and a zero block.
  await writeFile(dir.file('a.img'), buildImage(['r', 'r', 0, 'z', 'r', 'r', 'r', 1], BS));
  nc = await connect({ servers: nats.url });
  events = new EventRecorder(nc, 'blockvault.events.backup.completed');
  await events.ready();
  const c = client(api);
  const job = await submit(c, {
    requestId: 'traced-1',
    backup: { source: dir.url('a.img'), name: 'vm1', snapshotName: '', hintsJson: '', fromUid: '', tags: [], expire: '' },
  });
  const last = (await watch(c, job.id)).at(-1)!;
  assert.equal(last.state, JobState.JOB_STATE_SUCCEEDED, last.error);
  jobId = job.id;
  stats = (JSON.parse(last.resultJson) as { stats: Record<string, number> }).stats;
  const worker = procs.find((p) => p.target === 'worker')!;
  metricsText = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
  for (const p of procs) {
    const res = await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`);
    readiness[p.target] = [res.status, await res.text()];
  }
  for (const target of ['blob-store', 'reader'] as const) {
    const p = procs.find((x) => x.target === target)!;
    serviceMetrics[target] = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
  }
  c.close();
  await events.stop();
  await stopAll();
});

after(async () => {
  await nc?.close();
  await stopAll();
  await nats?.stop();
  await otlp?.stop();
  await dir?.remove();
});

describe('tracing, logs and metrics of a distributed backup', () => {
  it("follows each block from the reader (read and hash) through dedup and back to the reader, which stores it, to the metadata commit, in the job's trace", () => {
    const spans = otlp.spans;
    assert.equal(otlp.rejected, 0);
    const jobSpan = spans.find((s) => s.name === 'blockvault.job' && s.attributes['blockvault.job.id'] === jobId);
    assert.ok(jobSpan, 'the worker recorded the job span');
    assert.equal(jobSpan.service, 'blockvault-worker');
    const inTrace = spans.filter((s) => s.traceId === jobSpan.traceId);
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    const childOf = (parent: ReceivedSpan, name: string, service?: string): ReceivedSpan[] =>
      inTrace.filter((s) => s.parentSpanId === parent.spanId && s.name === name && (!service || s.service === service));
    const submitSpan = byId.get(jobSpan.parentSpanId);
    assert.equal(submitSpan?.name, 'blockvault.v1.JobService/SubmitJob', 'the job continues the trace of its submission');
    assert.equal(submitSpan?.service, 'blockvault-scheduler');
    assert.equal(submitSpan?.attributes['rpc.system'], 'grpc');

    const blocks = inTrace.filter((s) => s.name === 'blockvault.block');
    assert.equal(blocks.length, stats['blocksRead'], 'every block read has its span at a ratio of 1');
    let newBlocks = 0;
    for (const block of blocks) {
      const index = block.attributes['blockvault.block.index'];
      const [read] = childOf(block, 'blockvault.block.read', 'blockvault-worker');
      assert.ok(read, `block ${index}: read span`);
      // The block is read and hashed where the data is: the reader's spans are children of the worker's read.
      const [readerRead] = childOf(read, 'blockvault.reader.read', 'blockvault-reader');
      assert.ok(readerRead, `block ${index}: the reader's span is a child of the worker's read`);
      if (block.attributes['blockvault.block.sparse'] === true) continue;
      assert.equal(childOf(readerRead, 'blockvault.block.hash', 'blockvault-reader').length, 1, `block ${index}: hashed at the reader`);
      const [lookup] = childOf(block, 'blockvault.block.dedup_lookup', 'blockvault-worker');
      if (block.attributes['blockvault.block.new'] === true) {
        newBlocks++;
        assert.ok(lookup, `block ${index}: dedup lookup span`);
        const [put] = childOf(block, 'blockvault.block.put', 'blockvault-worker');
        assert.ok(put, `block ${index}: put span`);
        // A new block's bytes go from the reader to the blob store, once.
        const [store] = childOf(put, 'blockvault.reader.store', 'blockvault-reader');
        assert.ok(store, `block ${index}: the reader stores it, in a child of the put`);
        assert.equal(
          childOf(store, 'blockvault.v1.BlobStoreService/Put', 'blockvault-blob-store').length,
          1,
          `block ${index}: the blob store's span is a child of the reader's store`,
        );
      } else {
        assert.equal(childOf(block, 'blockvault.block.put').length, 0, `block ${index}: a duplicate never reaches the blob store`);
      }
    }
    assert.equal(newBlocks, stats['blocksWritten']);
    const claims = inTrace.filter((s) => s.service === 'blockvault-metadata' && s.name === 'blockvault.v1.MetadataService/ClaimBlobs');
    assert.ok(claims.length >= 1, 'dedup lookups reached the metadata service in this trace');
    for (const c of claims) assert.equal(byId.get(c.parentSpanId)?.service, 'blockvault-worker');
    const commits = inTrace.filter((s) => s.service === 'blockvault-metadata' && s.name === 'blockvault.v1.MetadataService/CommitSegments');
    for (const c of commits) assert.equal(byId.get(c.parentSpanId)?.service, 'blockvault-worker');
    const segments = Math.ceil(blocks.length / 4);
    assert.equal(
      commits.filter((c) => byId.get(c.parentSpanId)?.name === 'blockvault.segment.commit').length,
      segments,
      'each segment commit reached the metadata service',
    );
  });

  it("the worker's logs of the job carry its trace id", () => {
    const jobSpan = otlp.spans.find((s) => s.name === 'blockvault.job' && s.attributes['blockvault.job.id'] === jobId)!;
    const lines = procs
      .find((p) => p.target === 'worker')!
      .stderr.join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; jobId?: string; trace_id?: string; span_id?: string; module?: string });
    const done = lines.find((l) => l.msg === 'job succeeded' && l.jobId === jobId);
    assert.ok(done, 'the worker logged the job');
    assert.equal(done.trace_id, jobSpan.traceId);
    assert.equal(done.span_id, jobSpan.spanId);
    assert.equal(done.module, 'worker');
  });

  it('only new blocks travel: the reader hashes every block where it is, the blob store receives the new ones and nothing else', () => {
    assert.equal(calls(serviceMetrics.reader, 'blockvault.v1.ReaderService', 'Scan'), 1, 'the backup scanned at the reader');
    assert.equal(calls(serviceMetrics.reader, 'blockvault.v1.ReaderService', 'Read'), 0, 'no block bytes went to the worker');
    assert.ok(stats['blocksDedup']! > 0 && stats['blocksSparse']! > 0, 'the image has duplicates and zeros');
    assert.equal(
      calls(serviceMetrics['blob-store'], 'blockvault.v1.BlobStoreService', 'Put'),
      stats['blocksWritten']! + 1,
      'one Put per new block, plus the version metadata copy: no duplicate or sparse block reached the blob store',
    );
  });

  it("/metrics counts exactly the backup's blocks and bytes", () => {
    const value = (name: string, kind: string): number =>
      Number(new RegExp(`^${name}\\{kind="${kind}"\\} (\\d+)`, 'm').exec(metricsText)?.[1]);
    for (const kind of ['read', 'written', 'dedup', 'sparse'] as const) {
      const cap = kind[0]!.toUpperCase() + kind.slice(1);
      assert.equal(value('blockvault_backup_blocks_total', kind), stats[`blocks${cap}`], `blocks ${kind}`);
      assert.equal(value('blockvault_backup_bytes_total', kind), stats[`bytes${cap}`], `bytes ${kind}`);
    }
    assert.match(metricsText, /^blockvault_jobs_total\{type="backup",outcome="succeeded"\} 1$/m);
    assert.match(metricsText, /^blockvault_queue_pending_jobs \d+$/m);
  });

  it('every service answers /readyz on its metrics port once it serves (the probe of a worker, which has no gRPC server)', () => {
    assert.deepEqual(Object.keys(readiness).sort(), ['blob-store', 'metadata', 'reader', 'scheduler', 'worker']);
    for (const [target, answer] of Object.entries(readiness)) assert.deepEqual(answer, [200, 'ok\n'], target);
  });

  it("the backup's event carries the job's trace context, as a NATS header and as the CloudEvents traceparent", () => {
    const jobSpan = otlp.spans.find((s) => s.name === 'blockvault.job' && s.attributes['blockvault.job.id'] === jobId)!;
    const published = events.published.find((p) => (JSON.parse(p.payload) as { data: { jobId?: string } }).data.jobId === jobId);
    assert.ok(published, 'backup.completed arrived');
    const attribute = (JSON.parse(published.payload) as { traceparent?: string }).traceparent;
    assert.equal(attribute?.split('-')[1], jobSpan.traceId);
    assert.equal(published.headers['traceparent'], attribute);
  });
});
