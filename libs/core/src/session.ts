import { randomBytes } from 'node:crypto';
import type { EngineContext } from './context.ts';
import type { CommitFence } from './ports.ts';
import { SessionExpiredError } from './errors.ts';

/**
 * A running backup's registration: renewed while the backup runs, closed when it ends. Cleanup
 * spares every blob touched after the oldest live session started, and `rm` refuses a live
 * session's base version. Every commit of the backup is fenced by the session: once it has
 * expired (the process stalled past its TTL), the backup's writes are refused.
 */
export class BackupSessionLease {
  readonly id: string;
  readonly #ctx: EngineContext;
  readonly #timer: NodeJS.Timeout;

  private constructor(ctx: EngineContext, id: string) {
    this.#ctx = ctx;
    this.id = id;
    this.#timer = setInterval(() => void this.#renew(), Math.max(ctx.sessionTtlMs / 3, 50));
    this.#timer.unref();
  }

  static async open(ctx: EngineContext, versionUid: string, baseUid: string | null): Promise<BackupSessionLease> {
    const id = randomBytes(12).toString('hex');
    const started = ctx.clock.now();
    await ctx.metadata.openSession({ id, versionUid, baseUid, started, expires: new Date(started.getTime() + ctx.sessionTtlMs) });
    return new BackupSessionLease(ctx, id);
  }

  fence(): CommitFence {
    return { sessionId: this.id, now: this.#ctx.clock.now() };
  }

  async #renew(): Promise<void> {
    const now = this.#ctx.clock.now();
    try {
      await this.#ctx.metadata.renewSession(this.id, new Date(now.getTime() + this.#ctx.sessionTtlMs), now);
    } catch (err) {
      // An expired session stays expired: the next fenced commit fails with SessionExpiredError.
      // A store out of reach may come back: the next renewal tries again.
      if (err instanceof SessionExpiredError) clearInterval(this.#timer);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ctx.metadata.closeSession(this.id);
  }
}
