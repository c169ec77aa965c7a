/** Secrets: `key new`, `rekey`, `token new`. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { count } from '../format.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('rekey')
    .description(
      're-wrap every data key under the first master key of BLOCKVAULT_ENCRYPTION_KEY_FILE (blobs are not rewritten); then the old keys can be removed from the file',
    )
    .action(async (_opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo, g) => {
        const r = await repo.rekey();
        cli.print(
          g,
          r,
          () =>
            `re-wrapped ${count(r.rewrapped.length, 'data key')} under master key ${r.masterKey}; ${r.alreadyCurrent.length} already were`,
        );
      });
    });

  const key = program.command('key').description('master keys for encryption');
  key
    .command('new')
    .description('write a new random master key first into FILE (created mode 600; existing keys stay below it for rekey)')
    .argument('<file>', 'the key file (BLOCKVAULT_ENCRYPTION_KEY_FILE)')
    .option('--id <id>', 'the key id (default: key-<date>)')
    .action(async (file: string, opts: { id?: string }, c: Command) => {
      const g = cli.globals(c);
      const id = opts.id ?? `key-${cli.clock.now().toISOString().slice(0, 10)}`;
      const { addMasterKey } = await import('@blockvault/platform');
      const ids = await addMasterKey(file, id);
      cli.print(
        g,
        { file, id, keys: ids },
        () =>
          `added master key ${id} to ${file} (keys now: ${ids.join(', ')}); new blobs are encrypted with it once BLOCKVAULT_ENCRYPTION_KEY_FILE=${file}`,
      );
    });

  const token = program.command('token').description('job API tokens');
  token
    .command('new')
    .description(
      'make a random job API token: prints the token (give it to its user; it is shown once) and the line for BLOCKVAULT_TOKENS_FILE (its SHA-256, not the token)',
    )
    .argument('<name>', 'who or what uses it, e.g. ci-backups')
    .option(
      '--permissions <list>',
      'comma-separated: read, submit (backup, restore, scrub, cancel; implies read), admin (everything, also cleanup and enforce)',
      'read',
    )
    .action(async (name: string, opts: { permissions: string }, c: Command) => {
      const g = cli.globals(c);
      const { newToken } = await import('@blockvault/platform');
      const made = newToken(
        name,
        opts.permissions.split(',').map((p) => p.trim()),
      );
      cli.print(
        g,
        { name, permissions: opts.permissions.split(','), ...made },
        () => `token: ${made.token}\nadd to the tokens file: ${made.line}`,
      );
    });
}
