import { daemon, freePort, portAnswers, stopAll, tool, waitFor, workDir, type Started } from './process.ts';

export interface MongoServer extends Started {
  /** A connection string without a database name. */
  readonly url: string;
}

/** A FerretDB (MongoDB wire protocol) on SQLite in a fresh directory, on a free port. */
export async function startFerretDb(): Promise<MongoServer> {
  const bin = tool('ferretdb', 'ferretdb');
  const dir = await workDir('blockvault-ferretdb-');
  const port = await freePort();
  const child = daemon('ferretdb', dir.path, bin, [
    '--handler=sqlite',
    `--sqlite-url=file:${dir.path}/`,
    `--listen-addr=127.0.0.1:${port}`,
    '--telemetry=disable',
    '--debug-addr=-',
    `--state-dir=${dir.path}`,
    '--log-level=warn',
  ]);
  await waitFor('ferretdb', () => portAnswers(port), 30_000);
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    dir: dir.path,
    stop: async () => {
      await stopAll([child]);
      await dir.remove();
    },
  };
}
