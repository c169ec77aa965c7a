import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveMetrics } from './metrics.ts';

describe('health endpoints beside /metrics', () => {
  it('/healthz answers while /readyz follows the readiness check', async () => {
    let reason: string | undefined = 'starting';
    const server = await serveMetrics('127.0.0.1:0', { notReady: () => reason });
    const get = async (path: string): Promise<[number, string]> => {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return [res.status, await res.text()];
    };
    try {
      assert.deepEqual(await get('/healthz'), [200, 'ok\n']);
      assert.deepEqual(await get('/readyz'), [503, 'not ready: starting\n']);
      reason = undefined;
      assert.deepEqual(await get('/readyz?verbose'), [200, 'ok\n']);
      assert.equal((await get('/nothing'))[0], 404);
    } finally {
      await server.stop();
    }
  });
});
