import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, restartable, tool, waitFor, workDir, type Restartable, type Started } from './process.ts';

/** `kill` keeps its JetStream store; `restart` starts it on the same ports and store. */
export interface NatsServer extends Started, Omit<Restartable, 'stop'> {
  readonly url: string;
}

export interface NatsServerOptions {
  /** Extra configuration, e.g. an `authorization { users = [...] }` block. */
  readonly config?: string;
}

/** nats-server with JetStream (file store in a fresh directory) on free ports. */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = tool('nats-server', 'nats');
  const dir = await workDir('blockvault-nats-');
  const [port, http] = [await freePort(), await freePort()];
  const conf = join(dir.path, 'nats.conf');
  await writeFile(
    conf,
    `listen: 127.0.0.1:${port}\nhttp: 127.0.0.1:${http}\nmax_payload: 8MB\njetstream { store_dir: "${dir.path}/js" }\n${options.config ?? ''}\n`,
  );
  const healthy = (): Promise<void> => waitFor('nats-server', async () => (await fetch(`http://127.0.0.1:${http}/healthz`)).ok, 30_000);
  const server = await restartable('nats', dir.path, bin, ['-c', conf], healthy);
  return {
    url: `nats://127.0.0.1:${port}`,
    dir: dir.path,
    kill: () => server.kill(),
    restart: () => server.restart(),
    stop: async () => {
      await server.stop();
      await dir.remove();
    },
  };
}
