/** The services' suite with every module in one process (`serve --target all`). */
import { after, before } from 'node:test';
import { serve, type Running } from '@blockvault/platform/serve';
import { testConfig } from './harness.ts';
import { startNats, tempDir, type NatsServer, type TempDir } from '@blockvault/testing';
import { servicesSuite } from './suite.ts';

const BS = 64 * 1024;
let nats: NatsServer;
let dir: TempDir;
let running: Running;
before(async () => {
  nats = await startNats(); // its own: job streams and the leader lease must not be shared with other test files
  dir = await tempDir();
  running = await serve({
    target: 'all',
    config: testConfig(dir.file('home'), { natsUrl: nats.url, tickMs: 200 }),
    blockSize: BS,
    blocksPerSegment: 4,
  });
});
after(async () => {
  await running?.stop();
  await nats?.stop();
  await dir?.remove();
});

servicesSuite('all in one process', () => ({ port: running.port!, natsUrl: nats.url, dir, blockSize: BS }));
