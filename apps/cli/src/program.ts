/** The `blockvault` command line: one subcommand per operation, `--home` and `--json` anywhere. */
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { DamagedBlocksError, HASH_ALGORITHMS, InvalidArgumentError, parseHints, type BackupStats, type HashAlgorithm, type Repository } from '@blockvault/core';
import { openRepository, openVersionFromBlobStore } from '@blockvault/platform';
import { Cli, configOf, withRemote, type GlobalOptions, type Io } from './cli-context.ts';
import { EXIT_CODE_HELP } from './exit-codes.ts';
import { registerMaintenance } from './maintenance.ts';
import { blocksTable, duTable, restoreJson, statsTable, statsText, versionJson, versionsTable } from './format.ts';
import { progressBar } from './progress.ts';

function parseDate(value: string): Date {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new InvalidArgumentError(`invalid date ${JSON.stringify(value)}: use ISO 8601, e.g. 2026-12-31 or 2026-12-31T18:00:00Z`);
  }
  return new Date(ms);
}

function parseBlockId(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected a block id (a non-negative integer)');
  return Number(value);
}

function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new CommanderArgumentError('expected a positive integer');
  return Number(value);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function buildProgram(io: Io): Command {
  const program = new Command('blockvault')
    .description('Block-level, deduplicating backups of disk images, block devices and Ceph RBD volumes.')
    .option('--home <dir>', 'repository directory (default: $BLOCKVAULT_HOME or ~/.local/share/blockvault)')
    .option('--json', 'print machine-readable JSON on stdout')
    .option('--override-lock', 'take locks other holders have (after checking they are gone); logged')
    .option('--server <host:port>', "run the command as a job on a deployment's job API (backup, restore, ls, scrub, cleanup, enforce)")
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `\nSources and targets are URLs: file:///abs/path (image file or block device), rbd://pool/image@snapshot (sources), rbd://pool/image (restore targets).\nStores: embedded under --home unless BLOCKVAULT_MONGO_URL and/or BLOCKVAULT_S3_* are set (see README).\n\n${EXIT_CODE_HELP}`,
    );

  const cli = new Cli(io);
  const withRepo = cli.withRepo.bind(cli);
  const print = cli.print.bind(cli);

  program
    .command('init')
    .description('create the repository (hash and block size are fixed for its life)')
    .addOption(new Option('--hash <algorithm>', 'block checksum').choices([...HASH_ALGORITHMS]).default('blake3'))
    .option('--block-size <bytes>', 'block size in bytes (a multiple of 4096)', parsePositiveInt, 4 * 1024 * 1024)
    .option('--blocks-per-segment <n>', 'blocks per block-map segment: the unit an interrupted backup resumes from', parsePositiveInt, 256)
    .action(async (opts: { hash: HashAlgorithm; blockSize: number; blocksPerSegment: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const config = configOf(g);
      const home = config.home;
      const embedded = await openRepository(config, { hash: opts.hash, blockSize: opts.blockSize, blocksPerSegment: opts.blocksPerSegment });
      const repo = embedded.repository.ctx.config;
      await embedded.close();
      print(g, { home, ...repo }, () => `repository ${home}: hash ${repo.hash}, block size ${repo.blockSize}`);
    });

  program
    .command('backup')
    .description('back up SOURCE (a URL) as a new version of volume NAME')
    .argument('<source>', 'source URL, e.g. file:///var/lib/images/vm1.img')
    .argument('<name>', 'volume name, e.g. vm1')
    .option('--snapshot <name>', 'snapshot name to record (default: the snapshot of an rbd:// source)')
    .option('--hints <file>', 'changed regions: `rbd diff --format=json` output (one line or pretty-printed); for rbd:// derived from RBD when omitted')
    .option('--from <uid>', 'base version: blocks the hints leave untouched are taken from it')
    .option('--continue <uid>', 'continue an interrupted (invalid) version from the same source')
    .option('--tag <tag>', 'tag the version (repeatable; default: automatic b_daily/b_weekly/b_monthly)', collect, [])
    .option('--expire <date>', 'expiry date (ISO 8601)')
    .action(async (source: string, name: string, opts: { snapshot?: string; hints?: string; from?: string; continue?: string; tag: string[]; expire?: string }, cmd: Command) => {
      const hints = opts.hints ? parseHints(await readHints(opts.hints), opts.hints) : undefined;
      const expire = opts.expire ? parseDate(opts.expire) : null;
      const remoteG = cli.globals(cmd);
      if (remoteG.server) {
        if (opts.continue) throw new InvalidArgumentError('--continue is automatic with --server: a job whose worker died continues its version');
        const backup = { source, name, snapshotName: opts.snapshot ?? rbdSnapshot(source), hintsJson: hints ? JSON.stringify(hints) : '', fromUid: opts.from ?? '', tags: opts.tag, expire: expire?.toISOString() ?? '' };
        const result = (await withRemote(cli, remoteG, (r) => r.run({ requestId: '', backup }, 'backup'))) as { version: { uid: string }; stats: BackupStats };
        print(remoteG, result, () => `backed up ${source} as version ${result.version.uid} (${name})\n${statsText(result.stats)}`);
        return;
      }
      await withRepo(cmd, async (repo, g) => {
        const bar = progressBar('backup');
        const result = await repo
          .backup({ source, name, snapshotName: opts.snapshot ?? rbdSnapshot(source), hints, fromUid: opts.from, continueUid: opts.continue, tags: opts.tag, expire, onProgress: bar.listener })
          .finally(bar.stop);
        print(g, { version: versionJson(result.version), stats: result.stats }, () => `backed up ${source} as version ${result.version.uid} (${name})\n${statsText(result.stats)}`);
      });
    });

  program
    .command('restore')
    .description('restore version UID to TARGET (a URL); every block is verified')
    .argument('<uid>', 'version uid')
    .argument('<target>', 'target URL, e.g. file:///tmp/vm1.img')
    .option('--sparse', 'leave holes for sparse blocks instead of writing zeros')
    .option('--force', 'overwrite an existing target')
    .option('--continue-from <block>', 'resume an interrupted restore at this block id', parseBlockId)
    .option('--without-metadata', 'restore from the blob store alone (the metadata copy stored with the version)')
    .action(async (uid: string, target: string, opts: { sparse?: boolean; force?: boolean; continueFrom?: number; withoutMetadata?: boolean }, cmd: Command) => {
      const remoteG = cli.globals(cmd);
      if (remoteG.server && !opts.withoutMetadata) {
        const restore = { uid, target, sparse: opts.sparse ?? false, force: opts.force ?? false, continueFrom: opts.continueFrom ?? 0 };
        const result = (await withRemote(cli, remoteG, (r) => r.run({ requestId: '', restore }, 'restore'))) as { blocksRestored: number; durationSeconds: number; damagedBlocks: number[] };
        print(remoteG, result, () => `restored version ${uid} to ${target}: ${result.blocksRestored} blocks in ${result.durationSeconds.toFixed(2)} s`);
        if (result.damagedBlocks.length > 0) throw new DamagedBlocksError(`restore of ${uid} completed with errors`, result.damagedBlocks);
        return;
      }
      const run = opts.withoutMetadata ? withDetached : withRepo;
      await run(cmd, async (repo, g) => {
        const bar = progressBar('restore');
        const result = await repo
          .restore({ uid, target, sparse: opts.sparse, force: opts.force, continueFrom: opts.continueFrom, onProgress: bar.listener })
          .finally(bar.stop);
        print(g, restoreJson(result, target), () => `restored version ${uid} to ${target}: ${result.blocksRestored} blocks in ${result.durationSeconds.toFixed(2)} s`);
        if (result.damagedBlocks.length > 0) throw new DamagedBlocksError(`restore of ${uid} completed with errors`, result.damagedBlocks);
      });
    });

  const withDetached = async <T>(cmd: Command, fn: (repo: Repository, g: GlobalOptions) => Promise<T>): Promise<T> => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const uid = cmd.args[0] as string;
    const detached = await openVersionFromBlobStore(configOf(g), uid);
    try {
      return await fn(detached.repository, g);
    } finally {
      await detached.close();
    }
  };

  program
    .command('ls')
    .description('list versions')
    .argument('[name]', 'only versions of this volume')
    .option('--tag <tag>', 'only versions with this tag')
    .option('--snapshot <name>', 'only versions of this snapshot name')
    .option('--expired', 'only versions whose expire date has passed')
    .action(async (name: string | undefined, opts: { tag?: string; snapshot?: string; expired?: boolean }, cmd: Command) => {
      const remoteG = cli.globals(cmd);
      if (remoteG.server) {
        const { versions } = await withRemote(cli, remoteG, (r) => r.listVersions(name, opts.tag));
        const list = versions.map((v) => ({ ...v, expire: v.expire || null }));
        print(remoteG, list, () => versionsTable(list.map((v) => ({ ...v, date: new Date(v.date), expire: v.expire ? new Date(v.expire) : null, stats: null }))));
        return;
      }
      await withRepo(cmd, async (repo, g) => {
        const versions = await repo.ls({ name, tag: opts.tag, snapshotName: opts.snapshot, expired: opts.expired });
        print(g, versions.map(versionJson), () => versionsTable(versions));
      });
    });

  program
    .command('show')
    .description('show a version and its blocks')
    .argument('<uid>', 'version uid')
    .action(async (uid: string, _opts: unknown, cmd: Command) => {
      await withRepo(cmd, async (repo, g) => {
        const version = await repo.getVersion(uid);
        const blocks = await repo.blocks(uid);
        print(g, { ...versionJson(version), blocks }, () => `${versionsTable([version])}\n${blocksTable(blocks)}`);
      });
    });

  program
    .command('stats')
    .description('backup statistics per version')
    .argument('[uid]', 'one version')
    .action(async (uid: string | undefined, _opts: unknown, cmd: Command) => {
      await withRepo(cmd, async (repo, g) => {
        const versions = uid ? [await repo.getVersion(uid)] : await repo.ls();
        const rows = versions.flatMap((version) => (version.stats ? [{ version, stats: version.stats }] : []));
        print(g, rows.map((r) => ({ uid: r.version.uid, name: r.version.name, date: r.version.date.toISOString(), ...r.stats })), () => statsTable(rows));
      });
    });

  program
    .command('du')
    .description('space used per version: real, sparse, dedup, unique, shared and exclusive bytes')
    .argument('[uid]', 'one version')
    .action(async (uid: string | undefined, _opts: unknown, cmd: Command) => {
      await withRepo(cmd, async (repo, g) => {
        const rows = await repo.du(uid);
        print(g, rows, () => duTable(rows));
      });
    });

  program
    .command('rm')
    .description('remove a version (its blobs are reclaimed by cleanup)')
    .argument('<uid>', 'version uid')
    .option('--force', 'remove even if younger than the repository allows')
    .action(async (uid: string, opts: { force?: boolean }, cmd: Command) => {
      await withRepo(cmd, async (repo, g) => {
        await repo.rm(uid, { force: opts.force });
        print(g, { removed: uid }, () => `removed version ${uid}`);
      });
    });

  for (const [command, value] of [['protect', true], ['unprotect', false]] as const) {
    program
      .command(command)
      .description(value ? 'protect a version from rm and retention' : 'remove the protection of a version')
      .argument('<uid>', 'version uid')
      .action(async (uid: string, _opts: unknown, cmd: Command) => {
        await withRepo(cmd, async (repo, g) => {
          const v = await repo.setProtected(uid, value);
          print(g, versionJson(v), () => `version ${uid} is ${value ? 'protected' : 'unprotected'}`);
        });
      });
  }

  const tag = program.command('tag').description('add or remove tags');
  for (const [command, add] of [['add', true], ['rm', false]] as const) {
    tag
      .command(command)
      .description(add ? 'add tags to a version' : 'remove tags from a version')
      .argument('<uid>', 'version uid')
      .argument('<tags...>', 'tags')
      .action(async (uid: string, tags: string[], _opts: unknown, cmd: Command) => {
        await withRepo(cmd, async (repo, g) => {
          const v = add ? await repo.addTags(uid, tags) : await repo.removeTags(uid, tags);
          print(g, versionJson(v), () => `version ${uid} tags: ${v.tags.join(', ') || '(none)'}`);
        });
      });
  }

  program
    .command('expire')
    .description('set the expire date of a version (ISO 8601, or "never" to clear it)')
    .argument('<uid>', 'version uid')
    .argument('<date>', 'expire date')
    .action(async (uid: string, date: string, _opts: unknown, cmd: Command) => {
      const expire = date === 'never' ? null : parseDate(date);
      await withRepo(cmd, async (repo, g) => {
        const v = await repo.setExpire(uid, expire);
        print(g, versionJson(v), () => `version ${uid} expires ${v.expire ? v.expire.toISOString() : 'never'}`);
      });
    });

  registerMaintenance(program, cli);
  return program;
}

/** `rbd://pool/image@snap` records `snap`, so that the next backup can diff against it. */
function rbdSnapshot(source: string): string {
  return /^rbd:\/\/[^@]+@([^/@?#]+)$/.exec(source)?.[1] ?? '';
}

async function readHints(file: string): Promise<string> {
  try {
    return file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read hints file ${file}: ${(err as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
