/** A version's lifecycle: `rm`, `protect`, `unprotect`, `tag add|rm`, `expire`. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { versionJson, when } from '../format.ts';
import { parseDate, UID_ARGUMENT } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('rm')
    .description('remove a version (its blobs are reclaimed by cleanup)')
    .argument('<uid>', UID_ARGUMENT)
    .option('--force', 'remove even if younger than the repository allows')
    .action(async (ref: string, opts: { force?: boolean }, cmd: Command) => {
      await cli.withRepo(cmd, async (repo, g) => {
        const uid = (await repo.findVersion(ref)).uid;
        await repo.rm(uid, { force: opts.force });
        cli.print(g, { removed: uid }, () => `removed version ${uid}`);
      });
    });

  for (const [command, value] of [
    ['protect', true],
    ['unprotect', false],
  ] as const) {
    program
      .command(command)
      .description(value ? 'protect a version from rm and retention' : 'remove the protection of a version')
      .argument('<uid>', UID_ARGUMENT)
      .action(async (ref: string, _opts: unknown, cmd: Command) => {
        await cli.withRepo(cmd, async (repo, g) => {
          const uid = (await repo.findVersion(ref)).uid;
          const v = await repo.setProtected(uid, value);
          cli.print(g, versionJson(v), () => `version ${uid} is ${value ? 'protected' : 'unprotected'}`);
        });
      });
  }

  const tag = program.command('tag').description('add or remove tags');
  for (const [command, add] of [
    ['add', true],
    ['rm', false],
  ] as const) {
    tag
      .command(command)
      .description(add ? 'add tags to a version' : 'remove tags from a version')
      .argument('<uid>', UID_ARGUMENT)
      .argument('<tags...>', 'tags')
      .action(async (ref: string, tags: string[], _opts: unknown, cmd: Command) => {
        await cli.withRepo(cmd, async (repo, g) => {
          const uid = (await repo.findVersion(ref)).uid;
          const v = add ? await repo.addTags(uid, tags) : await repo.removeTags(uid, tags);
          cli.print(g, versionJson(v), () => `version ${uid} tags: ${v.tags.join(', ') || '(none)'}`);
        });
      });
  }

  program
    .command('expire')
    .description('set the expire date of a version (ISO 8601, or "never" to clear it)')
    .argument('<uid>', UID_ARGUMENT)
    .argument('<date>', 'expire date')
    .action(async (ref: string, date: string, _opts: unknown, cmd: Command) => {
      const expire = date === 'never' ? null : parseDate(date);
      await cli.withRepo(cmd, async (repo, g) => {
        const uid = (await repo.findVersion(ref)).uid;
        const v = await repo.setExpire(uid, expire);
        cli.print(g, versionJson(v), () => `version ${uid} expires ${v.expire ? when(v.expire) : 'never'}`);
      });
    });
}
