/**
 * The scheduler loop: one leader among the scheduler replicas (a NATS KV lease) looks at the
 * schedules every tick, submits the backups that are due, publishes SLA breaches when they
 * change, and submits the daily retention run of schedules that have rules. Job request ids are
 * derived from the schedule and the period, so two leaders in a handover never queue a job twice.
 */
import { ConflictError, isDue, slaBreaches, type Clock, type EventBus, type Lease, type Locks, type Repository } from '@blockvault/core';
import { createLogger, type Logger } from '@blockvault/telemetry';
import type { JobQueue } from './queue.ts';

export interface SchedulerOptions {
  readonly queue: JobQueue;
  readonly repository: Repository;
  readonly events: EventBus;
  readonly locks: Locks;
  readonly clock: Clock;
  readonly owner: string;
  /** @default 30000 (BLOCKVAULT_SCHEDULER_TICK_MS in the configuration) */
  readonly tickMs?: number;
  /** @default a pino logger on stderr */
  readonly logger?: Logger;
}

const DAY_MS = 86_400_000;
export const DEFAULT_TICK_MS = 30_000;
const safe = (s: string): string => s.replace(/[^A-Za-z0-9_.:-]/g, '_');

export class SchedulerLoop {
  readonly #o: SchedulerOptions;
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lease: Lease | undefined;
  #running: Promise<void> = Promise.resolve();
  #lastBreaches = new Map<string, string>();
  readonly #log: Logger;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.#log = (options.logger ?? createLogger('blockvault-scheduler')).child({ module: 'scheduler' });
    this.#tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  }

  get isLeader(): boolean {
    return this.#lease !== undefined;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = this.#running
        .then(() => this.tick())
        .catch((err: unknown) => this.#log.warn({ error: (err as Error).message }, 'schedule tick failed; retrying at the next tick'));
    }, this.#tickMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
    await this.#lease?.release();
    this.#lease = undefined;
  }

  /** One round: become (or stay) leader, then act on the schedules. */
  async tick(): Promise<void> {
    if (!this.#lease) {
      try {
        this.#lease = await this.#o.locks.acquire('scheduler:leader', { owner: this.#o.owner, ttlMs: Math.max(3 * this.#tickMs, 3000) });
        this.#log.info({ owner: this.#o.owner }, 'leading the schedules');
      } catch (err) {
        if (err instanceof ConflictError) return; // another replica leads
        throw err; // the locks are out of reach: the tick fails and is logged, not mistaken for a follower
      }
    }
    const { repository, queue, events, clock } = this.#o;
    const now = clock.now();
    const versions = await repository.ls();
    for (const s of await repository.schedules()) {
      const id = `${safe(s.name)}.${safe(s.scheduler)}`;
      if (s.source && isDue(versions, s, now)) {
        const period = Math.floor(now.getTime() / (s.intervalSeconds * 1000));
        const job = await queue.submit(
          {
            requestId: `sched.${id}.${period}`,
            backup: { source: s.source, name: s.name, snapshotName: '', hintsJson: '', fromUid: '', tags: [s.scheduler], expire: '' },
          },
          now,
        );
        if (job.submitted === now.toISOString())
          this.#log.info({ jobId: job.id, name: s.name, scheduler: s.scheduler }, 'due backup submitted');
      }
      const breaches = slaBreaches(versions, s, now);
      const key = breaches.join('\n');
      if (key !== (this.#lastBreaches.get(id) ?? '')) {
        this.#lastBreaches.set(id, key);
        if (breaches.length > 0) {
          events.publish({ kind: 'sla.breach', name: s.name, scheduler: s.scheduler, breaches });
          this.#log.warn({ name: s.name, scheduler: s.scheduler, breaches }, 'SLA breached');
        }
      }
      if (s.retention) {
        await queue.submit(
          {
            requestId: `enforce.${id}.${Math.floor(now.getTime() / DAY_MS)}`,
            enforce: { rules: s.retention, name: s.name, dryRun: false, timeZone: 'UTC' },
          },
          now,
        );
      }
    }
  }
}
