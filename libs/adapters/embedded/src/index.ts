export { SqliteMetadataStore } from './sqlite-metadata.ts';
export { FsBlobStore } from './fs-blob-store.ts';
export { SqliteLocks } from './sqlite-locks.ts';
export { MemoryEventBus } from './memory-bus.ts';
