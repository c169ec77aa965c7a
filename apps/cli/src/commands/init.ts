/** `init`: create the repository with its hash and block layout. */
import { Command, Option } from 'commander';
import { HASH_ALGORITHMS, type HashAlgorithm } from '@blockvault/core';
import { openRepository } from '@blockvault/platform';
import { configOf, type Cli, type GlobalOptions } from '../cli-context.ts';
import { bytes } from '../format.ts';
import { parsePositiveInt } from './parse.ts';

export function register(program: Command, cli: Cli): void {
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
      const embedded = await openRepository(config, {
        hash: opts.hash,
        blockSize: opts.blockSize,
        blocksPerSegment: opts.blocksPerSegment,
      });
      const repo = embedded.repository.ctx.config;
      await embedded.close();
      cli.print(g, { home, ...repo }, () => `repository ${home}: hash ${repo.hash}, block size ${bytes(repo.blockSize)}`);
    });
}
