/** The `blockvault` command line: global options, then one file per command under commands/. */
import tab from '@bomb.sh/tab/commander';
import { Command } from 'commander';
import { Cli, type Io } from './cli-context.ts';
import { registerCommands } from './commands/index.ts';
import { EXIT_CODE_HELP } from './exit-codes.ts';

export function buildProgram(io: Io): Command {
  const program = new Command('blockvault')
    .description('Block-level, deduplicating backups of disk images, block devices and Ceph RBD volumes.')
    .option('--home <dir>', 'repository directory (default: $BLOCKVAULT_HOME, else $XDG_DATA_HOME/blockvault or ~/.local/share/blockvault)')
    .option('--json', 'print machine-readable JSON on stdout')
    .option('--override-lock', 'take locks other holders have (after checking they are gone); logged')
    .option(
      '--server <host:port>',
      "run the command on a deployment's job API (backup, restore, scrub, deep-scrub, cleanup and enforce as jobs; ls, show, stats and du read it; jobs and cancel need it)",
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `\nSources and targets are URLs: file:///abs/path (image file or block device), rbd://pool/image@snapshot (sources), rbd://pool/image (restore targets).\nStores: embedded under --home unless BLOCKVAULT_MONGO_URL and/or BLOCKVAULT_S3_* are set (every variable: README, "Configuration and stores").\n\n${EXIT_CODE_HELP}`,
    );
  registerCommands(program, new Cli(io));
  // `blockvault completion bash|zsh|fish|powershell` prints a script that asks the hidden
  // `blockvault complete -- WORDS` for the words that fit, from this command tree (after every command is registered).
  tab(program, { completionCommandName: 'completion' });
  return program;
}
