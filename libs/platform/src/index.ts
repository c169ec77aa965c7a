export { localIo, openEmbedded, openRepository, type EmbeddedOptions, type EmbeddedRepository, type OpenRepository } from './embedded.ts';
export { apiClientSecurity, newToken, securityFromEnv, type SecurityConfig } from './security.ts';
export { addMasterKey, readKeyFile, storesFromEnv, transformsFromEnv, type StoresConfig, type TransformSettings } from './config.ts';
export { openForRecovery, openVersionFromBlobStore } from './detached.ts';
