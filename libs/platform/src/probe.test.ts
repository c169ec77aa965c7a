import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@blockvault/core';
import { createLogger } from '@blockvault/telemetry';
import { loadConfig } from './config/load.ts';
import { loopbackOf, probe } from './probe.ts';
import { serve } from './serve.ts';

describe('probe (a container health check)', () => {
  it('passes while a service serves, and names the address once it stops', async () => {
    const home = await mkdtemp(join(tmpdir(), 'bv-probe-'));
    const config = loadConfig({ home }, { BLOCKVAULT_GRPC_LISTEN: '127.0.0.1:0', BLOCKVAULT_METRICS_LISTEN: '127.0.0.1:0' });
    const running = await serve({ target: 'metadata', config, logger: createLogger('probe-test', { level: 'silent' }) });
    const bound = loadConfig(
      { home },
      { BLOCKVAULT_GRPC_LISTEN: `0.0.0.0:${running.port}`, BLOCKVAULT_METRICS_LISTEN: `127.0.0.1:${running.metricsPort}` },
    );
    try {
      assert.equal(await probe('metadata', bound), undefined);
      // The worker has no gRPC server: its metrics port alone says it is ready.
      assert.equal(await probe('worker', bound), undefined);
    } finally {
      await running.stop();
    }
    const reason = await probe('metadata', bound);
    assert.match(reason ?? '', new RegExp(`127\\.0\\.0\\.1:${running.port}: .*127\\.0\\.0\\.1:${running.metricsPort}/readyz`));
    await rm(home, { recursive: true, force: true });
  });

  it('refuses a worker or access target without a metrics port, and an unknown target', async () => {
    const config = loadConfig({ home: tmpdir() }, {});
    await assert.rejects(
      probe('worker', config),
      (e: unknown) => e instanceof InvalidArgumentError && /BLOCKVAULT_METRICS_LISTEN/.test(e.message),
    );
    await assert.rejects(probe('access', config), /access target is probed on its metrics port/);
    await assert.rejects(probe('db', config), InvalidArgumentError);
  });

  it('dials loopback for a wildcard listen address', () => {
    assert.equal(loopbackOf('0.0.0.0:7070'), '127.0.0.1:7070');
    assert.equal(loopbackOf('10.0.0.5:7071'), '10.0.0.5:7071');
  });
});
