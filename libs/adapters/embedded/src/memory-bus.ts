import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { BlockvaultEvent, EventBus, RecentEvent } from '@blockvault/core';

/** The in-process event bus of the embedded mode. Subscribers see events synchronously; the newest 500 are kept for `recent`. */
export class MemoryEventBus implements EventBus {
  static readonly KEPT = 500;
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  readonly #kept: RecentEvent[] = [];

  async recent(limit: number): Promise<readonly RecentEvent[]> {
    return limit > 0 ? this.#kept.slice(-limit) : [];
  }

  publish(event: BlockvaultEvent): void {
    this.#kept.push({ ...event, id: randomUUID(), time: new Date().toISOString() });
    if (this.#kept.length > MemoryEventBus.KEPT) this.#kept.shift();
    this.#emitter.emit(event.kind, event);
    this.#emitter.emit('*', event);
  }

  subscribe(kind: string, handler: (event: BlockvaultEvent) => void): () => void {
    this.#emitter.on(kind, handler);
    return () => this.#emitter.off(kind, handler);
  }
}
