import { freePort, portAnswers, restartable, tool, waitFor, workDir, type Restartable, type Started } from './process.ts';

/** `kill` keeps its SQLite files; `restart` starts it on the same port and files. */
export interface MongoServer extends Started, Omit<Restartable, 'stop'> {
  /** A connection string without a database name. */
  readonly url: string;
}

/** A FerretDB (MongoDB wire protocol) on SQLite in a fresh directory, on a free port. */
export async function startFerretDb(): Promise<MongoServer> {
  const bin = tool('ferretdb', 'ferretdb');
  const dir = await workDir('blockvault-ferretdb-');
  const port = await freePort();
  const server = await restartable(
    'ferretdb',
    dir.path,
    bin,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir.path}/`,
      `--listen-addr=127.0.0.1:${port}`,
      '--telemetry=disable',
      '--debug-addr=-',
      `--state-dir=${dir.path}`,
      '--log-level=warn',
    ],
    () => waitFor('ferretdb', () => portAnswers(port), 30_000),
  );
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    dir: dir.path,
    kill: () => server.kill(),
    restart: () => server.restart(),
    stop: async () => {
      await server.stop();
      await dir.remove();
    },
  };
}
