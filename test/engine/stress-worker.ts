/**
 * One process of the cleanup stress test: random backups (full and incremental), removals and
 * cleanups against a shared embedded repository. After each successful backup it stores the
 * source image as `expected/<uid>`, so the test can check every surviving version.
 *
 *   node stress-worker.ts HOME WORKDIR WORKER_ID ITERATIONS SEED
 */
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ErrorCode, isBlockvaultError } from '@blockvault/core';
import { openEmbedded } from '@blockvault/platform';
import { BS, PER_SEGMENT } from './harness.ts';

const [home, work, workerId, iterations, seed] = process.argv.slice(2) as [string, string, string, string, string];
let state = Number(seed) >>> 0;
function random(): number {
  // mulberry32: a small deterministic generator, so that a failing run can be replayed.
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (n: number): number => Math.floor(random() * n);

/** POOL distinct block contents shared by every worker (so backups deduplicate across them), and zero. */
const POOL = Number(process.env['STRESS_POOL'] ?? 32);
function poolBlock(i: number): Buffer {
  const b = Buffer.alloc(BS);
  if (i === POOL) return b;
  for (let off = 0; off < BS; off += 4) b.writeUInt32LE((i * 2654435761 + off * 40503) >>> 0, off);
  return b;
}
const BLOCKS = 3 * PER_SEGMENT;
/** Pool blocks (shared: deduplicated, claimed, condemned) and one unique block (garbage once its version goes). */
const image = (): Buffer => Buffer.concat([...Array.from({ length: BLOCKS - 1 }, () => poolBlock(pick(POOL + 1))), randomBytes(BS)]);

/** Saves the expected image atomically: other workers read these files. */
async function expect(uid: string, src: string): Promise<void> {
  await copyFile(src, join(work, `.tmp-${uid}`));
  await rename(join(work, `.tmp-${uid}`), join(work, 'expected', uid));
}

const repo = await openEmbedded({ home });
const counts: Record<string, number> = { backup: 0, incremental: 0, rm: 0, cleanup: 0, blobsDeleted: 0, tolerated: 0 };
const tolerated = new Set<string>([ErrorCode.Conflict, ErrorCode.NotFound]);

for (let i = 0; i < Number(iterations); i++) {
  const src = join(work, `w${workerId}-${i}.img`);
  const roll = random();
  try {
    if (roll < 0.3) {
      await writeFile(src, image());
      const { version } = await repo.repository.backup({ source: `file://${src}`, name: `w${workerId}` });
      await expect(version.uid, src);
      counts['backup']!++;
    } else if (roll < 0.55) {
      const bases = (await repo.repository.ls()).filter((v) => v.valid);
      if (bases.length === 0) continue;
      const base = bases[pick(bases.length)]!;
      // Another worker may not have saved the expected image of a version it just finished.
      const img = await readFile(join(work, 'expected', base.uid)).catch(() => undefined);
      if (!img) continue;
      const changed = [pick(BLOCKS), pick(BLOCKS)];
      for (const b of changed) poolBlock(pick(POOL + 1)).copy(img, b * BS);
      await writeFile(src, img);
      const hints = changed.map((b) => ({ offset: b * BS, length: BS, exists: true }));
      const { version } = await repo.repository.backup({ source: `file://${src}`, name: base.name, fromUid: base.uid, hints });
      await expect(version.uid, src);
      counts['incremental']!++;
    } else if (roll < 0.8) {
      const versions = await repo.repository.ls();
      if (versions.length < 3) continue;
      await repo.repository.rm(versions[pick(versions.length)]!.uid);
      counts['rm']!++;
    } else {
      const r = await repo.repository.cleanup({ graceSeconds: 0 });
      counts['cleanup']!++;
      counts['blobsDeleted']! += r.blobsDeleted;
    }
  } catch (err) {
    // Losing a race for a lock, or removing what another worker just removed, is expected.
    if (isBlockvaultError(err) && tolerated.has(err.code)) counts['tolerated']!++;
    else throw err;
  }
}
await repo.close();
console.log(JSON.stringify(counts));
