import { EventEmitter } from 'node:events';
import type { BlockvaultEvent, EventBus } from '@blockvault/core';

/** The in-process event bus of the embedded mode. Subscribers see events synchronously. */
export class MemoryEventBus implements EventBus {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  publish(event: BlockvaultEvent): void {
    this.#emitter.emit(event.kind, event);
    this.#emitter.emit('*', event);
  }

  subscribe(kind: string, handler: (event: BlockvaultEvent) => void): () => void {
    this.#emitter.on(kind, handler);
    return () => this.#emitter.off(kind, handler);
  }
}
