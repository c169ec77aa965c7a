/** Inspecting versions: `ls`, `show`, `stats`, `du`. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { blocksTable, duTable, statsTable, versionJson, versionsTable } from '../format.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('ls')
    .description('list versions')
    .argument('[name]', 'only versions of this volume')
    .option('--tag <tag>', 'only versions with this tag')
    .option('--snapshot <name>', 'only versions of this snapshot name')
    .option('--expired', 'only versions whose expire date has passed')
    .action(async (name: string | undefined, opts: { tag?: string; snapshot?: string; expired?: boolean }, cmd: Command) => {
      await cli.localOrJob(
        cmd,
        async (remote, remoteG) => {
          const { versions } = await remote.listVersions(name, opts.tag);
          const list = versions.map((v) => ({ ...v, expire: v.expire || null }));
          cli.print(remoteG, list, () =>
            versionsTable(list.map((v) => ({ ...v, date: new Date(v.date), expire: v.expire ? new Date(v.expire) : null, stats: null }))),
          );
        },
        async (repo, g) => {
          const versions = await repo.ls({ name, tag: opts.tag, snapshotName: opts.snapshot, expired: opts.expired });
          cli.print(g, versions.map(versionJson), () => versionsTable(versions));
        },
      );
    });

  program
    .command('show')
    .description('show a version and its blocks')
    .argument('<uid>', 'version uid')
    .action(async (uid: string, _opts: unknown, cmd: Command) => {
      await cli.withRepo(cmd, async (repo, g) => {
        const version = await repo.getVersion(uid);
        const blocks = await repo.blocks(uid);
        // Blocks come from recorded segments: fewer than the version's size means its backup did not finish.
        const complete = blocks.length === version.size;
        const note = complete
          ? ''
          : `\nINCOMPLETE: ${blocks.length} of ${version.size} blocks recorded; its backup did not finish (blockvault backup SOURCE ${version.name} --continue ${uid})`;
        cli.print(g, { ...versionJson(version), complete, blocks }, () => `${versionsTable([version])}\n${blocksTable(blocks)}${note}`);
      });
    });

  program
    .command('stats')
    .description('backup statistics per version')
    .argument('[uid]', 'one version')
    .action(async (uid: string | undefined, _opts: unknown, cmd: Command) => {
      await cli.withRepo(cmd, async (repo, g) => {
        const versions = uid ? [await repo.getVersion(uid)] : await repo.ls();
        const rows = versions.flatMap((version) => (version.stats ? [{ version, stats: version.stats }] : []));
        cli.print(
          g,
          rows.map((r) => ({ uid: r.version.uid, name: r.version.name, date: r.version.date.toISOString(), ...r.stats })),
          () => statsTable(rows),
        );
      });
    });

  program
    .command('du')
    .description('space used per version: real, sparse, dedup, unique, shared and exclusive bytes')
    .argument('[uid]', 'one version')
    .action(async (uid: string | undefined, _opts: unknown, cmd: Command) => {
      await cli.withRepo(cmd, async (repo, g) => {
        const rows = await repo.du(uid);
        cli.print(g, rows, () => duTable(rows));
      });
    });
}
