import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { daemon, freePort, stopAll, tool, waitFor, workDir, type Started } from './process.ts';

export interface NatsServer extends Started {
  readonly url: string;
  /** Kills the server with SIGKILL (a crash); its JetStream store stays. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store, after `kill`; resolves once it is healthy. */
  restart(): Promise<void>;
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
  let child = daemon('nats', dir.path, bin, ['-c', conf]);
  await healthy();
  return {
    url: `nats://127.0.0.1:${port}`,
    dir: dir.path,
    kill: async () => {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
    },
    restart: async () => {
      child = daemon('nats', dir.path, bin, ['-c', conf]);
      await healthy();
    },
    stop: async () => {
      await stopAll([child]);
      await dir.remove();
    },
  };
}
