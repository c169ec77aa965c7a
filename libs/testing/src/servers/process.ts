/** Starting real servers as child processes on free loopback ports, and stopping exactly them. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../../../..');

export function toolsDir(): string {
  return process.env['BLOCKVAULT_TOOLS'] ?? join(homedir(), '.cache', 'blockvault', 'bin');
}

/** The path of a tool, installing it with infra/local/install.sh when missing. */
export function tool(name: 'nats-server' | 'ferretdb' | 'toxiproxy-server', component: 'nats' | 'ferretdb' | 'toxiproxy'): string {
  const path = join(toolsDir(), name);
  if (!existsSync(path)) {
    const r = spawnSync(join(REPO, 'infra/local/install.sh'), [component], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`infra/local/install.sh ${component} failed`);
  }
  return path;
}

export function installCeph(): void {
  const r = spawnSync(join(REPO, 'infra/local/install.sh'), ['ceph'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('infra/local/install.sh ceph failed');
}

/** qemu-img, qemu-io and nbdinfo (the NBD clients the export is tested with), installed when missing. */
export function installQemu(): void {
  install('qemu');
}

/** The path of helm (built with Go by infra/local/install.sh when missing or another version). */
export function installHelm(): string {
  install('helm');
  return join(toolsDir(), 'helm');
}

/** Debian's chromium (the dashboard's browser tests), installed when missing; its path. */
export function installChromium(): string {
  install('chromium');
  return '/usr/bin/chromium';
}

/** bash with bash-completion, and zsh: the shells `blockvault completion` is tested in. */
export function installShells(): void {
  install('shells');
}

function install(component: string): void {
  const r = spawnSync(join(REPO, 'infra/local/install.sh'), [component], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`infra/local/install.sh ${component} failed`);
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

export interface Started {
  readonly dir: string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Spawns a server with its output in `<dir>/<name>.log`; `stop` ends it (TERM, then KILL). */
export function daemon(name: string, dir: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const out = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], env });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function stopAll(list: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    list.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(kill);
            done();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

export async function workDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A server the tests may crash and start again: same command line, ports and data directory. */
export interface Restartable {
  /** Kills it with SIGKILL (a crash); its data directory stays. */
  kill(): Promise<void>;
  /** Starts it again after `kill`; resolves once it answers. */
  restart(): Promise<void>;
  /** Stops it (TERM, then KILL). */
  stop(): Promise<void>;
}

/** Spawns a daemon (see `daemon`) that can be killed and started again; resolves once `healthy` holds. */
export async function restartable(
  name: string,
  dir: string,
  command: string,
  args: string[],
  healthy: () => Promise<void>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Restartable> {
  let child = daemon(name, dir, command, args, env);
  await healthy();
  return {
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
    },
    restart: async () => {
      child = daemon(name, dir, command, args, env);
      await healthy();
    },
    stop: () => stopAll([child]),
  };
}
