import cliProgress from 'cli-progress';
import type { Progress, ProgressListener } from '@blockvault/core';
import { duration, rate } from './format.ts';

/** A progress bar with throughput and ETA on stderr, only when stderr is a terminal. */
export function progressBar(label: string): { listener: ProgressListener | undefined; stop: () => void } {
  if (!process.stderr.isTTY) return { listener: undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {blocks} blocks | {rate} | ETA {etaText}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const listener = (p: Progress): void => {
    const payload = {
      blocks: `${p.blocksDone}/${p.blocksTotal}`,
      rate: rate(p.bytesPerSecond, 1),
      etaText: p.etaSeconds === null ? '?' : duration(p.etaSeconds),
    };
    if (!started) {
      bar.start(p.blocksTotal, p.blocksDone, payload);
      started = true;
    } else bar.update(p.blocksDone, payload);
  };
  return { listener, stop: () => started && bar.stop() };
}
