import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { register } from 'prom-client';
import { serveMetrics } from './metrics.ts';

const DASHBOARD = resolve(import.meta.dirname, '../../../infra/grafana/blockvault-dashboard.json');

describe('Grafana dashboard', () => {
  it('queries only metrics the services export', async () => {
    const server = await serveMetrics('127.0.0.1:0'); // registers the default process metrics too
    try {
      const exported = new Set((await register.getMetricsAsJSON()).map((m) => m.name));
      const text = await readFile(DASHBOARD, 'utf8');
      const used = new Set([...text.matchAll(/\bblockvault_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
      assert.ok(used.size >= 8);
      for (const name of used) assert.ok(exported.has(name), `${name} is not exported`);
      const page = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      assert.match(page, /^# TYPE blockvault_backup_blocks_total counter$/m);
    } finally {
      await server.stop();
    }
  });
});
