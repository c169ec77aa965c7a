export { openEmbedded, type EmbeddedOptions, type EmbeddedRepository } from './embedded.ts';
export { openForRecovery, openVersionFromBlobStore } from './detached.ts';
