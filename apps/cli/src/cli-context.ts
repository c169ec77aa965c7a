/** What every command shares: global options, opening the repository, and printing. */
import type { Command } from 'commander';
import { InvalidArgumentError, systemClock, type Clock, type Repository } from '@blockvault/core';
import { apiClientSecurity, loadConfig, openRepository, type BlockvaultConfig, type ConfigFlags } from '@blockvault/platform';
import { Remote } from './remote.ts';

export interface GlobalOptions {
  home?: string;
  json?: boolean;
  overrideLock?: boolean;
  server?: string;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The configuration: environment and the global flags (`--home`), loaded once per command. */
export function configOf(g: GlobalOptions, flags: Omit<ConfigFlags, 'home'> = {}): BlockvaultConfig {
  return loadConfig({ ...flags, ...(g.home ? { home: g.home } : {}) });
}

export class Cli {
  readonly io: Io;
  readonly clock: Clock;

  constructor(io: Io, clock: Clock = systemClock) {
    this.io = io;
    this.clock = clock;
  }

  globals(cmd: Command): GlobalOptions {
    return cmd.optsWithGlobals<GlobalOptions>();
  }

  /** The job API of `--server`; the caller closes it. */
  remote(g: GlobalOptions): Remote {
    const config = configOf(g);
    return new Remote(g.server as string, apiClientSecurity(config.security), config.queue.outageRetryMs);
  }

  /** Opens the embedded repository for one command and closes it afterwards. */
  async withRepo<T>(cmd: Command, fn: (repo: Repository, g: GlobalOptions) => Promise<T>): Promise<T> {
    const g = this.globals(cmd);
    if (g.server)
      throw new InvalidArgumentError(
        `${cmd.name()} is not part of the job API (backup, restore, scrub, deep-scrub, cleanup, enforce, ls, show, stats, du, jobs and cancel are); run it without --server, beside the services (BLOCKVAULT_METADATA_URL, BLOCKVAULT_BLOBSTORE_URL and BLOCKVAULT_NATS_URL set) or where the repository is`,
      );
    const embedded = await openRepository(configOf(g), {
      overrideLocks: g.overrideLock ?? false,
      onLockOverride: (name, holder) => this.io.err(`blockvault: warning: --override-lock: taking ${name} from ${holder}`),
    });
    try {
      return await fn(embedded.repository, g);
    } finally {
      await embedded.close();
    }
  }

  /**
   * The one branch between the two modes: with `--server` the command runs as a job on the
   * deployment (`job`), else on the repository here (`local`).
   */
  async localOrJob(
    cmd: Command,
    job: (remote: Remote, g: GlobalOptions) => Promise<void>,
    local: (repo: Repository, g: GlobalOptions) => Promise<void>,
  ): Promise<void> {
    const g = this.globals(cmd);
    if (g.server) return withRemote(this, g, (remote) => job(remote, g));
    return this.withRepo(cmd, local);
  }

  print(g: GlobalOptions, json: unknown, human: () => string): void {
    this.io.out(g.json ? JSON.stringify(json, null, 2) : human());
  }
}

/** Runs `fn` against the server, closing the connection afterwards. */
export async function withRemote<T>(cli: Cli, g: GlobalOptions, fn: (remote: Remote) => Promise<T>): Promise<T> {
  const remote = cli.remote(g);
  try {
    return await fn(remote);
  } finally {
    remote.close();
  }
}
