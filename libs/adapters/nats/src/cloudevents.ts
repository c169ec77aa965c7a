/**
 * Events on the wire as CloudEvents 1.0 in structured JSON mode (the CloudEvents NATS protocol
 * binding): one JSON object per message, the event's own fields under `data`. The CloudEvents SDK
 * for JavaScript builds and validates the envelope; the binding itself is two lines (the subject
 * and a content-type header), which the SDK does not ship for NATS.
 *
 * proto/asyncapi.yaml is the contract: a JSON Schema per event type, validated in the e2e suite.
 */
import { CloudEvent, ValidationError } from 'cloudevents';
import { InvalidArgumentError, type BlockvaultEvent } from '@blockvault/core';

/** Version 2: the CloudEvents envelope (version 1 was a flat object with `kind` and `schemaVersion`). */
export const EVENT_SCHEMA_VERSION = 2;
/** Reverse-DNS prefix of every event type: `io.blockvault.backup.completed`. */
export const EVENT_TYPE_PREFIX = 'io.blockvault.';
/** The NATS header that marks a message as a structured-mode CloudEvent. */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
const DEPLOYMENT = /^[A-Za-z0-9._-]{1,63}$/;

/** Where an event comes from: one deployment's one service (`urn:blockvault:prod-eu:worker`). */
export function eventSource(deployment: string, service: string): string {
  for (const [what, v] of [
    ['deployment', deployment],
    ['service', service],
  ] as const) {
    if (!DEPLOYMENT.test(v))
      throw new InvalidArgumentError(`an event source's ${what} must be 1-63 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(v)}`);
  }
  return `urn:blockvault:${deployment}:${service}`;
}

/** The JSON Schema of one kind's `data`, by the `$id` it has in proto/asyncapi.yaml. */
export function eventDataSchema(kind: string): string {
  return `urn:blockvault:events:${EVENT_SCHEMA_VERSION}:${kind}`;
}

/** What the event is about: a job's events name the job, the rest the version (or blob, or schedule). */
function subjectOf(event: BlockvaultEvent): string | undefined {
  const pick = (...keys: string[]): string | undefined => {
    for (const k of keys) if (typeof event[k] === 'string' && event[k] !== '') return event[k];
    return undefined;
  };
  return event.kind.startsWith('job.') ? pick('jobId', 'versionUid') : pick('versionUid', 'blobUid', 'name', 'jobId');
}

export interface Envelope {
  /** Unique per event; a redelivery or a retried publish carries the same id. */
  readonly id: string;
  readonly source: string;
  readonly time: Date;
  /** W3C trace context of the work that caused the event (the CloudEvents distributed tracing extension). */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** The structured-mode JSON text of one event. */
export function encodeEvent(event: BlockvaultEvent, envelope: Envelope): string {
  const { kind, ...data } = event;
  const subject = subjectOf(event);
  const ce = new CloudEvent<Record<string, unknown>>(
    {
      specversion: '1.0',
      id: envelope.id,
      source: envelope.source,
      type: EVENT_TYPE_PREFIX + kind,
      time: envelope.time.toISOString(),
      ...(subject !== undefined ? { subject } : {}),
      datacontenttype: 'application/json',
      dataschema: eventDataSchema(kind),
      data,
      ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
      ...(envelope.tracestate ? { tracestate: envelope.tracestate } : {}),
    },
    true,
  );
  return ce.toString();
}

/** A decoded event: its kind and fields as published, and the envelope's id, source and time. */
export type ReceivedEvent = BlockvaultEvent & { readonly id: string; readonly source: string; readonly time: string };

/**
 * Reads one structured-mode CloudEvent of Blockvault's, or a schema version 1 event still in the
 * stream from before an upgrade (its `id` and `source` then empty).
 * @throws InvalidArgumentError for anything else
 */
export function decodeEvent(payload: string): ReceivedEvent {
  let ce: CloudEvent<unknown>;
  try {
    const json = JSON.parse(payload) as Record<string, unknown>;
    if (json['specversion'] === undefined && json['schemaVersion'] === 1 && typeof json['kind'] === 'string') {
      const legacy = Object.fromEntries(Object.entries(json).filter(([k]) => k !== 'schemaVersion'));
      return { ...legacy, kind: json['kind'], id: '', source: '', time: typeof json['time'] === 'string' ? json['time'] : '' };
    }
    ce = new CloudEvent<unknown>(json, true);
  } catch (err) {
    const why = err instanceof ValidationError ? JSON.stringify(err.errors) : (err as Error).message;
    throw new InvalidArgumentError(`not a CloudEvent: ${why}`, { cause: err });
  }
  if (!ce.type.startsWith(EVENT_TYPE_PREFIX)) throw new InvalidArgumentError(`not a Blockvault event type: ${ce.type}`);
  const data = ce.data !== null && typeof ce.data === 'object' ? (ce.data as Record<string, unknown>) : {};
  return { ...data, kind: ce.type.slice(EVENT_TYPE_PREFIX.length), id: ce.id, source: ce.source, time: ce.time ?? '' };
}
