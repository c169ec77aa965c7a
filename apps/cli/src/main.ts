/** Entry point of the `blockvault` binary: runs the program and turns errors into exit codes. */
import { CommanderError } from 'commander';
import { isBlockvaultError } from '@blockvault/core';
import { ExitCode, exitCodeFor } from './exit-codes.ts';
import { buildProgram } from './program.ts';
import { remoteExitCode } from './remote.ts';

async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram({ out: (text) => process.stdout.write(`${text}\n`), err: (text) => process.stderr.write(`${text}\n`) });
  try {
    await program.parseAsync(argv as string[]);
    // A command may report a non-error outcome through the exit code (sla: breaches found).
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.Ok;
      return ExitCode.Usage; // commander has already printed the message
    }
    const remote = remoteExitCode(err);
    if (remote !== undefined) {
      process.stderr.write(`blockvault: ${(err as Error).message}\n`);
      return remote;
    }
    const code = exitCodeFor(err);
    if (isBlockvaultError(err)) process.stderr.write(`blockvault: ${err.message}\n`);
    else process.stderr.write(`blockvault: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return code;
  }
}

// A reader that stops early (`blockvault --help | head`) closes the pipe: stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(ExitCode.Ok);
});

process.exitCode = await main(process.argv);
