/** Opens embedded repositories on temporary directories for the engine tests. */
import { after } from 'node:test';
import type { BlockvaultEvent, Clock } from '@blockvault/core';
import { openEmbedded, type EmbeddedOptions, type EmbeddedRepository } from '@blockvault/platform';
import { tempDir, type TempDir } from '@blockvault/testing';

/** Small blocks and segments so that multi-segment logic runs on a few hundred KiB. */
export const BS = 64 * 1024;
export const PER_SEGMENT = 4;

export interface Harness {
  readonly dir: TempDir;
  readonly repo: EmbeddedRepository;
  readonly events: BlockvaultEvent[];
}

export async function harness(options: Partial<EmbeddedOptions> = {}): Promise<Harness> {
  const dir = await tempDir();
  const repo = await openEmbedded({ home: dir.file('repo'), blockSize: BS, blocksPerSegment: PER_SEGMENT, concurrency: 4, ...options });
  const events: BlockvaultEvent[] = [];
  repo.events.subscribe('*', (e) => events.push(e));
  after(async () => {
    await repo.close();
    await dir.remove();
  });
  return { dir, repo, events };
}

/** A clock tests move by hand. */
export function manualClock(start: string): Clock & { set(iso: string): void } {
  let now = new Date(start);
  return { now: () => now, set: (iso) => void (now = new Date(iso)) };
}
