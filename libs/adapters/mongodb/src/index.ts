export { MongoMetadataStore, FENCE_MARGIN_MS } from './mongo-metadata.ts';
export { MongoLocks, type MongoLocksOptions } from './mongo-locks.ts';
export { openMongo, type MongoOptions } from './open.ts';
export { redactUrl } from './errors.ts';
