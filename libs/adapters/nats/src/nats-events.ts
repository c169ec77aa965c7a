/**
 * EventBus on NATS: each event is published to `blockvault.events.<kind>` and kept in the
 * JetStream stream BLOCKVAULT_EVENTS, so that a subscriber that connects late can replay what
 * it missed. Payloads are JSON with `schemaVersion` (libs/adapters/nats/README.md lists the kinds and their fields).
 */
import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { context, propagation } from '@opentelemetry/api';
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { InvalidArgumentError, retrying, UnavailableError, type BlockvaultEvent, type EventBus } from '@blockvault/core';

export const EVENTS_STREAM = 'BLOCKVAULT_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'blockvault.events.';
export const EVENT_SCHEMA_VERSION = 1;

export interface NatsEventsOptions {
  /** Events are kept this long for late subscribers. @default 7 days */
  readonly maxAgeMs?: number;
  /** And at most this many bytes. @default 1 GiB */
  readonly maxBytes?: number;
}

/** How long a publish is retried while NATS is out of reach (a restart) before the event counts as lost. */
const PUBLISH_RETRY_MS = 60_000;
const KIND = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export function eventSubject(kind: string): string {
  if (kind === '*') return `${EVENTS_SUBJECT_PREFIX}>`;
  if (!KIND.test(kind)) throw new InvalidArgumentError(`invalid event kind ${JSON.stringify(kind)}`);
  return EVENTS_SUBJECT_PREFIX + kind;
}

export class NatsEventBus implements EventBus {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #subs = new Set<Subscription>();
  #error: Error | undefined;

  private constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#js = jetstream(nc);
  }

  /** Creates the events stream if missing. */
  static async open(nc: NatsConnection, options: NatsEventsOptions = {}): Promise<NatsEventBus> {
    const jsm = await jetstreamManager(nc);
    const config = {
      name: EVENTS_STREAM,
      subjects: [`${EVENTS_SUBJECT_PREFIX}>`],
      max_age: (options.maxAgeMs ?? 7 * 86_400_000) * 1_000_000,
      max_bytes: options.maxBytes ?? 1024 ** 3,
    };
    try {
      await jsm.streams.info(EVENTS_STREAM);
      await jsm.streams.update(EVENTS_STREAM, config);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
        throw new UnavailableError(`NATS: cannot set up the events stream ${EVENTS_STREAM}: ${(err as Error).message}`, { cause: err });
      }
      await jsm.streams.add(config);
    }
    return new NatsEventBus(nc);
  }

  publish(event: BlockvaultEvent): void {
    const payload = JSON.stringify({ schemaVersion: EVENT_SCHEMA_VERSION, time: new Date().toISOString(), ...event });
    // The W3C trace context of the work that caused the event travels in its headers.
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    const hdrs = Object.keys(carrier).length > 0 ? headers() : undefined;
    for (const [k, v] of Object.entries(carrier)) hdrs?.set(k, v);
    // A NATS restart is ridden out: the publish is retried with backoff under one message id, so
    // the stream stores the event once even when an acknowledgement was lost.
    const options = { msgID: randomUUID(), ...(hdrs ? { headers: hdrs } : {}) };
    const p = retrying(`publish event ${event.kind}`, { maxElapsedMs: PUBLISH_RETRY_MS, initialDelayMs: 250, retryOn: () => true }, () =>
      this.#js.publish(eventSubject(event.kind), payload, options),
    ).then(
      () => undefined,
      (err: unknown) => {
        this.#error ??= new UnavailableError(`publishing event ${event.kind} failed: ${(err as Error).message}`, { cause: err });
      },
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  subscribe(kind: string, handler: (event: BlockvaultEvent) => void): () => void {
    const sub = this.#nc.subscribe(eventSubject(kind), {
      callback: (err, msg) => {
        if (!err) handler(msg.json<BlockvaultEvent>());
      },
    });
    this.#subs.add(sub);
    return () => {
      this.#subs.delete(sub);
      sub.unsubscribe();
    };
  }

  /** Waits until published events are stored and subscriptions are active at the server. */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending]);
    await this.#nc.flush();
    if (this.#error) throw this.#error;
  }

  /** Events stored in the stream (oldest first), for subscribers that connect late. */
  async *replay(kind: string | '*' = '*'): AsyncIterable<BlockvaultEvent & { seq: number }> {
    const consumer = await this.#js.consumers.get(EVENTS_STREAM, { filter_subjects: eventSubject(kind) });
    const pending = (await consumer.info()).num_pending;
    if (pending === 0) return;
    const messages = await consumer.fetch({ max_messages: pending, expires: 5000 });
    let seen = 0;
    for await (const m of messages) {
      yield { ...m.json<BlockvaultEvent>(), seq: m.seq };
      if (++seen >= pending) break;
    }
  }

  async close(): Promise<void> {
    // Closing never fails on events NATS did not take: flush() reported those to whoever awaited it.
    await this.flush().catch((_reported: unknown) => undefined);
    for (const s of this.#subs) s.unsubscribe();
  }
}
