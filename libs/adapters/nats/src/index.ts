export { NatsEventBus, eventSubject, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, type NatsEventsOptions } from './nats-events.ts';
export {
  CLOUDEVENTS_CONTENT_TYPE,
  decodeEvent,
  encodeEvent,
  eventDataSchema,
  eventSource,
  EVENT_SCHEMA_VERSION,
  EVENT_TYPE_PREFIX,
  type Envelope,
  type ReceivedEvent,
} from './cloudevents.ts';
export { NatsLocks, LOCKS_BUCKET, type NatsLocksOptions } from './nats-locks.ts';
export { openNats, type NatsAuth, type NatsOptions } from './open.ts';
export { NatsReaderDirectory, READERS_BUCKET, DEFAULT_READER_TTL_MS } from './nats-readers.ts';
