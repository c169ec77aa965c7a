/**
 * The worker service as its own deployable. Configuration from the environment:
 * BLOCKVAULT_NATS_URL (default nats://127.0.0.1:4222), BLOCKVAULT_GRPC_LISTEN (scheduler,
 * default 127.0.0.1:7070), BLOCKVAULT_HOME and the store settings (libs/platform/src/config.ts).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isBlockvaultError } from '@blockvault/core';
import { storesFromEnv } from '@blockvault/platform';
import { serve } from '@blockvault/platform/serve';

const running = await serve({
  target: 'worker',
  natsUrl: process.env['BLOCKVAULT_NATS_URL'] ?? 'nats://127.0.0.1:4222',
  listen: process.env['BLOCKVAULT_GRPC_LISTEN'] ?? '127.0.0.1:7070',
  home: process.env['BLOCKVAULT_HOME'] ?? join(homedir(), '.local', 'share', 'blockvault'),
  stores: storesFromEnv(),
}).catch((err: unknown) => {
  // One line, an exit code by kind (as the CLI): 2 bad settings, 6 a server unreachable.
  process.stderr.write(`blockvault-worker: ${(err as Error).message}\n`);
  process.exit(isBlockvaultError(err) && err.code === 'INVALID_ARGUMENT' ? 2 : isBlockvaultError(err) && err.code === 'UNAVAILABLE' ? 6 : 1);
});
process.stderr.write(`blockvault-worker: serving ${running.modules.join(', ')}${running.port ? ` on port ${running.port}` : ''}\n`);
await new Promise<void>((done) => {
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
});
await running.stop();
