/**
 * Toxiproxy (Shopify's TCP proxy for simulating network conditions) between a test's services
 * and their stores: latency, hangs (`timeout` toxics) and cut connections, driven through its
 * HTTP API with `toxiproxy-node-client`.
 */
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import { freePort, restartable, tool, waitFor, workDir, type Started } from './process.ts';

export interface ToxiproxyServer extends Started {
  readonly client: Toxiproxy;
  /** A proxy on a free loopback port in front of `upstream` (`host:port`); its address is `listen`. */
  proxy(name: string, upstream: string): Promise<Proxy>;
}

export async function startToxiproxy(): Promise<ToxiproxyServer> {
  const bin = tool('toxiproxy-server', 'toxiproxy');
  const dir = await workDir('blockvault-toxiproxy-');
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const server = await restartable('toxiproxy', dir.path, bin, ['-host', '127.0.0.1', '-port', String(port)], () =>
    waitFor('toxiproxy', async () => (await fetch(`${api}/version`)).ok, 30_000),
  );
  const client = new Toxiproxy(api);
  return {
    client,
    dir: dir.path,
    proxy: async (name, upstream) => client.createProxy({ name, listen: `127.0.0.1:${await freePort()}`, upstream }),
    stop: async () => {
      await server.stop();
      await dir.remove();
    },
  };
}
