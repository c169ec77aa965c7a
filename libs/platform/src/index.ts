export { localIo, openEmbedded, openRepository, type EmbeddedOptions, type EmbeddedRepository, type OpenRepository } from './embedded.ts';
export { storesFromEnv, type StoresConfig } from './config.ts';
export { openForRecovery, openVersionFromBlobStore } from './detached.ts';
