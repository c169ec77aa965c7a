/**
 * `npm run demo`: a real backup and restore with the embedded defaults, through the real
 * `blockvault` binary. Makes a ~1 GiB image (random, zero and duplicated regions), backs it up,
 * changes ~5% of its blocks and writes rbd-diff-style hints, backs up incrementally, restores
 * both versions and verifies each byte for byte. Exits non-zero on any difference.
 *
 *   npm run demo [-- --size-mib N] [-- --keep]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const BLOCK = 4 * 1024 * 1024;
const BIN = resolve(import.meta.dirname, '../bin/blockvault.js');

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, keep: { type: 'boolean', default: false } } });
const blocks = Math.max(8, Math.floor(Number(values['size-mib']) / 4));

function blockvault(...args: string[]): unknown {
  const r = spawnSync(process.execPath, [BIN, '--json', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`blockvault ${args.join(' ')} exited with ${r.status}`);
  return JSON.parse(r.stdout);
}

/** The command's human output (the tables a user reads). */
function human(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`blockvault ${args.join(' ')} exited with ${r.status}`);
  return r.stdout.trimEnd();
}

/** 40% random, 20% zero, 25% copies of earlier blocks, 15% half-zero blocks; a short last block. */
async function makeImage(path: string): Promise<number> {
  const fh = await open(path, 'w');
  const kept: Buffer[] = [];
  for (let i = 0; i < blocks; i++) {
    const kind = i % 20;
    let data: Buffer;
    if (kind < 8) data = randomBytes(BLOCK);
    else if (kind < 12) data = Buffer.alloc(BLOCK);
    else if (kind < 17 && kept.length > 0) data = kept[randomInt(kept.length)] as Buffer;
    else {
      data = Buffer.alloc(BLOCK);
      randomBytes(BLOCK / 2).copy(data);
    }
    if (kept.length < 16 && kind < 8) kept.push(data);
    await fh.write(data, 0, data.length, i * BLOCK);
  }
  const tail = randomBytes(123_457);
  await fh.write(tail, 0, tail.length, blocks * BLOCK);
  await fh.close();
  return blocks * BLOCK + tail.length;
}

/** Rewrites ~5% of the blocks; returns `rbd diff --whole-object --format=json`-style hints. */
async function change(path: string, sizeBytes: number): Promise<{ offset: number; length: number; exists: string }[]> {
  const fh = await open(path, 'r+');
  const changed = new Set<number>();
  while (changed.size < Math.ceil(blocks * 0.05)) changed.add(randomInt(blocks));
  const hints = [];
  for (const b of [...changed].sort((x, y) => x - y)) {
    const zeroed = b % 7 === 0;
    await fh.write(zeroed ? Buffer.alloc(BLOCK) : randomBytes(BLOCK), 0, BLOCK, b * BLOCK);
    hints.push({ offset: b * BLOCK, length: Math.min(BLOCK, sizeBytes - b * BLOCK), exists: zeroed ? 'false' : 'true' });
  }
  await fh.close();
  return hints;
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = [await open(a), await open(b)];
  try {
    if ((await fa.stat()).size !== (await fb.stat()).size) return false;
    const [ba, bb] = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
    for (let pos = 0; ; pos += BLOCK) {
      const [ra, rb] = [await fa.read(ba, 0, BLOCK, pos), await fb.read(bb, 0, BLOCK, pos)];
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      if (ra.bytesRead === 0) return true;
    }
  } finally {
    await fa.close();
    await fb.close();
  }
}

interface BackupOut {
  version: { uid: string; sizeBytes: number };
  stats: Record<string, number>;
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'blockvault-demo-'));
  const home = join(dir, 'repository');
  const [img1, img2] = [join(dir, 'vm1-monday.img'), join(dir, 'vm1-tuesday.img')];
  try {
    console.log(`demo directory: ${dir}`);
    const size = await makeImage(img1);
    console.log(`made ${img1}: ${(size / 2 ** 20).toFixed(1)} MiB in ${blocks + 1} blocks`);
    const v1 = blockvault('--home', home, 'backup', `file://${img1}`, 'vm1', '--snapshot', 'monday') as BackupOut;
    await copyFile(img1, img2);
    const hints = await change(img2, size);
    const hintsFile = join(dir, 'tuesday.diff.json');
    await writeFile(hintsFile, JSON.stringify(hints, null, 2));
    console.log(`changed ${hints.length} blocks of ${img2}; hints in ${hintsFile}`);
    const v2 = blockvault(
      '--home',
      home,
      'backup',
      `file://${img2}`,
      'vm1',
      '--snapshot',
      'tuesday',
      '--from',
      v1.version.uid,
      '--hints',
      hintsFile,
    ) as BackupOut;
    let ok = true;
    for (const [v, img] of [
      [v1, img1],
      [v2, img2],
    ] as const) {
      const out = join(dir, `restored-${v.version.uid}.img`);
      blockvault('--home', home, 'restore', v.version.uid, `file://${out}`);
      const same = await sameBytes(img, out);
      ok &&= same;
      console.log(`restored ${v.version.uid} -> ${out}: ${same ? 'identical to' : 'DIFFERENT FROM'} ${img}`);
      await rm(out);
    }
    // What a user reads: the CLI's own tables (the versions, then what each backup read and stored).
    for (const command of ['ls', 'stats']) console.log(`\n$ blockvault ${command}\n${human('--home', home, command)}`);
    console.log(ok ? 'demo OK: both versions restored byte for byte' : 'demo FAILED: a restore differs from its source');
    return ok ? 0 : 1;
  } finally {
    if (values.keep) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
