export {
  NatsEventBus,
  eventSubject,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  EVENT_SCHEMA_VERSION,
  type NatsEventsOptions,
} from './nats-events.ts';
export { NatsLocks, LOCKS_BUCKET, type NatsLocksOptions } from './nats-locks.ts';
export { openNats, type NatsAuth, type NatsOptions } from './open.ts';
