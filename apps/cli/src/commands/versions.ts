/** Inspecting versions: `ls`, `show`, `stats`, `du`. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.ts';
import { UID_ARGUMENT } from './parse.ts';
import { examplesText } from './examples.ts';
import { InvalidArgumentError, matchVersion, type BlockSummary, type Version } from '@blockvault/core';
import { duTable, showText, statsTable, versionJson, versionsTable } from '../format.ts';
import { versionOf } from '../remote.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('ls')
    .description('list versions')
    .argument('[name]', 'only versions of this volume')
    .option('--tag <tag>', 'only versions with this tag')
    .option('--snapshot <name>', 'only versions of this snapshot name')
    .option('--expired', 'only versions whose expire date has passed')
    .addHelpText(
      'after',
      examplesText(
        ['blockvault ls', 'every version, oldest first'],
        ['blockvault ls vm1 --tag b_daily', 'the daily versions of vm1'],
        ["blockvault --json ls | jq -r '.[] | select(.valid | not) | .uid'", 'the uids of versions that are not valid'],
      ),
    )
    .action(async (name: string | undefined, opts: { tag?: string; snapshot?: string; expired?: boolean }, cmd: Command) => {
      await cli.localOrJob(
        cmd,
        async (remote, remoteG) => {
          const { versions } = await remote.listVersions(name, opts.tag);
          // The embedded `ls --json` shape exactly (the job API's Version also carries the backup's stats).
          const list = versions.map((v) => ({
            uid: v.uid,
            name: v.name,
            snapshotName: v.snapshotName,
            date: v.date,
            size: v.size,
            sizeBytes: v.sizeBytes,
            valid: v.valid,
            protected: v.protected,
            tags: v.tags,
            expire: v.expire || null,
          }));
          cli.print(remoteG, list, () =>
            versionsTable(
              list.map((v) => ({ ...v, date: new Date(v.date), expire: v.expire ? new Date(v.expire) : null, stats: null })),
              false,
            ),
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
    .description('show a version: its fields and its blocks by state (unique, deduplicated, sparse, invalid)')
    .argument('<uid>', UID_ARGUMENT)
    .option('--blocks', 'also list every block (with --json: the blocks array)')
    .addHelpText(
      'after',
      examplesText(
        ['blockvault show 3f2a9c1e', 'a version and its blocks by state'],
        ['blockvault show 3f2a9c1e --blocks', 'with every block: its blob, checksum, size and state'],
        ["blockvault --json show 3f2a9c1e --blocks | jq '[.blocks[] | select(.valid | not) | .id]'", 'the ids of damaged blocks'],
      ),
    )
    .action(async (ref: string, opts: { blocks?: boolean }, cmd: Command) => {
      await cli.localOrJob(
        cmd,
        async (remote, g) => {
          if (opts.blocks)
            throw new InvalidArgumentError('show --blocks lists every block from the repository itself: run it without --server');
          const detail = await remote.getVersion(ref);
          const version = versionOf(detail.version!);
          const count = (c: { blocks: number; bytes: number } | undefined) => ({ blocks: c?.blocks ?? 0, bytes: c?.bytes ?? 0 });
          const summary: BlockSummary = {
            unique: count(detail.unique),
            deduplicated: count(detail.deduplicated),
            sparse: count(detail.sparse),
            invalid: count(detail.invalid),
            unrecorded: count(detail.unrecorded),
          };
          cli.print(g, { ...versionJson(version), complete: detail.complete, summary }, () => showText(version, summary));
        },
        async (repo, g) => {
          // Blocks come from recorded segments: fewer than the version's size means its backup did not finish.
          const { version, complete, summary, blocks: list } = await repo.summary((await repo.findVersion(ref)).uid);
          cli.print(g, { ...versionJson(version), complete, summary, ...(opts.blocks ? { blocks: list } : {}) }, () =>
            showText(version, summary, opts.blocks ? list : undefined),
          );
        },
      );
    });

  program
    .command('stats')
    .description('backup statistics per version')
    .argument('[uid]', 'one version (its uid or a unique prefix)')
    .action(async (ref: string | undefined, _opts: unknown, cmd: Command) => {
      const print = (g: Parameters<Cli['print']>[0], versions: readonly Version[]): void => {
        const rows = versions.flatMap((version) => (version.stats ? [{ version, stats: version.stats }] : []));
        cli.print(
          g,
          rows.map((r) => ({ uid: r.version.uid, name: r.version.name, date: r.version.date.toISOString(), ...r.stats })),
          () => statsTable(rows),
        );
      };
      await cli.localOrJob(
        cmd,
        async (remote, g) => {
          const all = (await remote.listVersions(undefined, undefined)).versions.map(versionOf);
          print(g, ref ? [matchVersion(all, ref)] : all);
        },
        async (repo, g) => print(g, ref ? [await repo.findVersion(ref)] : await repo.ls()),
      );
    });

  program
    .command('du')
    .description('space used per version: real, sparse, dedup, unique, shared and exclusive bytes')
    .argument('[uid]', 'one version (its uid or a unique prefix)')
    .action(async (ref: string | undefined, _opts: unknown, cmd: Command) => {
      await cli.localOrJob(
        cmd,
        async (remote, g) => {
          const { versions } = await remote.getUsage();
          const rows = ref ? [matchVersion(versions, ref)] : versions;
          cli.print(g, rows, () => duTable(rows));
        },
        async (repo, g) => {
          const rows = await repo.du(ref ? (await repo.findVersion(ref)).uid : undefined);
          cli.print(g, rows, () => duTable(rows));
        },
      );
    });
}
