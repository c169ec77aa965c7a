/**
 * Writing a new file past the page cache (O_DIRECT), from memory aligned for it.
 *
 * A blob store that writes through the page cache fills the cache with blobs nobody reads soon;
 * on a VM whose host reclaims guest memory that growth is what makes buffered writes slow (the
 * bench README measures buffered writes plus fsync at about half the speed of direct ones here).
 * borg avoids it with posix_fadvise(DONTNEED), which Node does not offer; O_DIRECT does the same
 * job and skips a copy into the cache.
 *
 * O_DIRECT wants the buffer, the offset and the length aligned to the device's logical block:
 * the bytes are copied into an aligned slot (core's alignedSlots), padded with zeros to a
 * multiple of DIRECT_ALIGN, written, and the file is cut back to its true size.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { alignedSlots as slots, DIRECT_ALIGN as ALIGN, roundUp } from '@blockvault/core';

/** The file system refuses O_DIRECT (tmpfs, some FUSE and network file systems). */
export class DirectUnsupportedError extends Error {}

/**
 * Creates `path` (it must not exist) holding `chunks`, written with O_DIRECT, and fsyncs it.
 * False when no aligned memory could be had (nothing was created: write it through the cache).
 * @throws DirectUnsupportedError when the file system refuses O_DIRECT (the file may exist then)
 */
export async function writeFileDirect(path: string, chunks: readonly Uint8Array[]): Promise<boolean> {
  const length = chunks.reduce((n, c) => n + c.byteLength, 0);
  const padded = roundUp(length, ALIGN);
  const slot = slots.acquire(padded);
  if (!slot) return false; // no aligned memory to be had now: nothing was created
  try {
    let at = 0;
    for (const c of chunks) {
      slot.set(c, at);
      at += c.byteLength;
    }
    slot.fill(0, length, padded);
    let fh;
    try {
      fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINVAL')
        throw new DirectUnsupportedError(`O_DIRECT refused for ${path}`, { cause: err });
      throw err;
    }
    try {
      let done = 0;
      while (done < padded) {
        let bytesWritten: number;
        try {
          ({ bytesWritten } = await fh.write(slot, done, padded - done, done));
        } catch (err) {
          // Opened, but the alignment is not enough for this device: the caller writes it buffered.
          if ((err as NodeJS.ErrnoException).code === 'EINVAL')
            throw new DirectUnsupportedError(`O_DIRECT write refused for ${path}`, { cause: err });
          throw err;
        }
        if (bytesWritten === 0) throw new Error(`no progress writing ${path} at ${done} of ${padded} bytes`);
        done += bytesWritten;
      }
      if (padded !== length) await fh.truncate(length);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } finally {
    slots.release(slot);
  }
}
