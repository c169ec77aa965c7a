/** Moving version metadata: `export`, `import`, `recover`. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError, parseExport } from '@blockvault/core';
import { openForRecovery } from '@blockvault/platform';
import { configOf, type Cli } from '../cli-context.ts';
import { versionJson } from '../format.ts';
import { readInput } from '../input.ts';
import { UID_ARGUMENT } from './parse.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('export')
    .description("write a version's metadata as a self-describing document (FILE or - for stdout)")
    .argument('<uid>', UID_ARGUMENT)
    .argument('<file>', 'output file, or - for stdout')
    .action(async (ref: string, file: string, _opts: unknown, c: Command) => {
      await cli.withRepo(c, async (repo) => {
        const text = JSON.stringify(await repo.exportVersion((await repo.findVersion(ref)).uid));
        if (file === '-') cli.io.out(text);
        else
          await writeFile(file, text, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
            throw err.code === 'EEXIST'
              ? new InvalidArgumentError(`${file} exists; choose a new file`)
              : new InvalidArgumentError(`cannot write ${file}: ${err.message}`);
          });
      });
    });

  program
    .command('import')
    .description('record a version from an export (FILE or - for stdin)')
    .argument('<file>', 'export file, or - for stdin')
    .action(async (file: string, _opts: unknown, c: Command) => {
      const text = await readInput(file).catch((err: Error) => {
        throw new InvalidArgumentError(`cannot read ${file}: ${err.message}`);
      });
      const doc = parseExport(text, file);
      await cli.withRepo(c, async (repo, g) => {
        const v = await repo.importVersion(doc);
        cli.print(
          g,
          versionJson(v),
          () => `imported version ${v.uid} (${v.name})${v.valid ? '' : ' - some of its blobs are missing: it is marked invalid'}`,
        );
      });
    });

  program
    .command('recover')
    .description('rebuild the metadata database from the version copies in the blob store')
    .action(async (_opts: unknown, c: Command) => {
      const g = cli.globals(c);
      const embedded = await openForRecovery(configOf(g));
      try {
        const r = await embedded.repository.recover();
        cli.print(g, r, () => `recovered ${r.imported.length} versions; ${r.skipped.length} were already known`);
      } finally {
        await embedded.close();
      }
    });
}
