/** What every command shares: global options, opening the repository, and printing. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Repository } from '@blockvault/core';
import { openRepository, storesFromEnv } from '@blockvault/platform';

export interface GlobalOptions {
  home?: string;
  json?: boolean;
  overrideLock?: boolean;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** `--home`, then BLOCKVAULT_HOME, then $XDG_DATA_HOME/blockvault or ~/.local/share/blockvault. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env['BLOCKVAULT_HOME']) return env['BLOCKVAULT_HOME'];
  return join(env['XDG_DATA_HOME'] || join(homedir(), '.local', 'share'), 'blockvault');
}

export class Cli {
  readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  globals(cmd: Command): GlobalOptions {
    return cmd.optsWithGlobals<GlobalOptions>();
  }

  /** Opens the embedded repository for one command and closes it afterwards. */
  async withRepo<T>(cmd: Command, fn: (repo: Repository, g: GlobalOptions) => Promise<T>): Promise<T> {
    const g = this.globals(cmd);
    const embedded = await openRepository({
      home: resolveHome(g.home),
      stores: storesFromEnv(),
      overrideLocks: g.overrideLock ?? false,
      onLockOverride: (name, holder) => this.io.err(`blockvault: warning: --override-lock: taking ${name} from ${holder}`),
    });
    try {
      return await fn(embedded.repository, g);
    } finally {
      await embedded.close();
    }
  }

  print(g: GlobalOptions, json: unknown, human: () => string): void {
    this.io.out(g.json ? JSON.stringify(json, null, 2) : human());
  }
}
