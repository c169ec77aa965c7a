/** Every command of the `blockvault` binary, one file per command or group, in the order `--help` lists them. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import * as backup from './backup.ts';
import * as cleanup from './cleanup.ts';
import * as enforce from './enforce.ts';
import * as init from './init.ts';
import * as jobs from './jobs.ts';
import * as keys from './keys.ts';
import * as lifecycle from './lifecycle.ts';
import * as nbd from './nbd.ts';
import * as restore from './restore.ts';
import * as schedules from './schedules.ts';
import * as scrub from './scrub.ts';
import * as serve from './serve.ts';
import * as transfer from './transfer.ts';
import * as versions from './versions.ts';

const COMMANDS: readonly { register(program: Command, cli: Cli): void }[] = [
  init,
  backup,
  restore,
  versions,
  lifecycle,
  scrub,
  cleanup,
  enforce,
  schedules,
  transfer,
  serve,
  nbd,
  keys,
  jobs,
];

export function registerCommands(program: Command, cli: Cli): void {
  for (const c of COMMANDS) c.register(program, cli);
}
