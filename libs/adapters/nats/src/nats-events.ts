/**
 * EventBus on NATS: each event is published to `blockvault.events.<kind>` and kept in the
 * JetStream stream BLOCKVAULT_EVENTS, so that a subscriber that connects late can replay what
 * it missed. Each message is a CloudEvent in structured JSON mode (cloudevents.ts; the kinds and
 * their fields: libs/adapters/nats/README.md and proto/asyncapi.yaml).
 */
import { randomUUID } from 'node:crypto';
import { headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { context, propagation } from '@opentelemetry/api';
import { DeliverPolicy, jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { InvalidArgumentError, retrying, UnavailableError, type BlockvaultEvent, type EventBus } from '@blockvault/core';
import { CLOUDEVENTS_CONTENT_TYPE, decodeEvent, encodeEvent, eventSource, type ReceivedEvent } from './cloudevents.ts';

export const EVENTS_STREAM = 'BLOCKVAULT_EVENTS';
export const EVENTS_SUBJECT_PREFIX = 'blockvault.events.';

export interface NatsEventsOptions {
  /** Each event's CloudEvents `source`, a URI naming the deployment and service. @default eventSource('default', 'blockvault') */
  readonly source?: string;
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
  readonly #source: string;
  #error: Error | undefined;

  private constructor(nc: NatsConnection, source: string) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#source = source;
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
    return new NatsEventBus(nc, options.source ?? eventSource('default', 'blockvault'));
  }

  publish(event: BlockvaultEvent): void {
    // The W3C trace context of the work that caused the event travels in its headers and, by the
    // CloudEvents distributed tracing extension, in the event itself.
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    const id = randomUUID();
    const payload = encodeEvent(event, {
      id,
      source: this.#source,
      time: new Date(),
      ...(carrier['traceparent'] ? { traceparent: carrier['traceparent'] } : {}),
      ...(carrier['tracestate'] ? { tracestate: carrier['tracestate'] } : {}),
    });
    const hdrs = headers();
    hdrs.set('content-type', CLOUDEVENTS_CONTENT_TYPE);
    for (const [k, v] of Object.entries(carrier)) hdrs.set(k, v);
    // A NATS restart is ridden out: the publish is retried with backoff under one message id (the
    // event's id), so the stream stores the event once even when an acknowledgement was lost.
    const options = { msgID: id, headers: hdrs };
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

  /** Events that are not Blockvault's CloudEvents (a foreign publisher's) are skipped. */
  subscribe(kind: string, handler: (event: ReceivedEvent) => void): () => void {
    const sub = this.#nc.subscribe(eventSubject(kind), {
      callback: (err, msg) => {
        const event = err ? undefined : tryDecode(msg.string());
        if (event) handler(event);
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
  async *replay(kind: string | '*' = '*'): AsyncIterable<ReceivedEvent & { seq: number }> {
    const consumer = await this.#js.consumers.get(EVENTS_STREAM, { filter_subjects: eventSubject(kind) });
    const pending = (await consumer.info()).num_pending;
    if (pending === 0) return;
    const messages = await consumer.fetch({ max_messages: pending, expires: 5000 });
    let seen = 0;
    for await (const m of messages) {
      const event = tryDecode(m.string());
      if (event) yield { ...event, seq: m.seq };
      if (++seen >= pending) break;
    }
  }

  /** The newest `limit` events in the stream, oldest first (Blockvault's own; a foreign message is skipped). */
  async recent(limit: number): Promise<ReceivedEvent[]> {
    const { state } = await (await jetstreamManager(this.#nc)).streams.info(EVENTS_STREAM);
    if (state.messages === 0 || limit <= 0) return [];
    const start = Math.max(state.first_seq, state.last_seq - limit + 1);
    const want = state.last_seq - start + 1;
    const consumer = await this.#js.consumers.get(EVENTS_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
    const events: ReceivedEvent[] = [];
    for await (const m of await consumer.fetch({ max_messages: want, expires: 5000 })) {
      const event = tryDecode(m.string());
      if (event) events.push(event);
      if (m.seq >= state.last_seq) break;
    }
    return events;
  }

  async close(): Promise<void> {
    // Closing never fails on events NATS did not take: flush() reported those to whoever awaited it.
    await this.flush().catch((_reported: unknown) => undefined);
    for (const s of this.#subs) s.unsubscribe();
  }
}

/** Undefined for what is not one of Blockvault's events (a foreign publisher's message). */
function tryDecode(payload: string): ReceivedEvent | undefined {
  try {
    return decodeEvent(payload);
  } catch (err) {
    if (err instanceof InvalidArgumentError) return undefined;
    throw err;
  }
}
