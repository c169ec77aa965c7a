export {
  defaultConfig,
  loadConfig,
  type BlockvaultConfig,
  type ConfigFlags,
  type IoConfig,
  type IoRoots,
  type StoresConfig,
} from './config/load.ts';
export { configTable, SECTIONS, VARIABLES, type Section, type Variable } from './config/variables.ts';
export { addMasterKey, readKeyFile, type TransformSettings } from './config/keys.ts';
export { apiClientSecurity, newToken, type SecurityConfig } from './config/security.ts';
export {
  BLOB_BACKENDS,
  choose,
  IO_BACKENDS,
  localIo,
  METADATA_BACKENDS,
  type BlobBackend,
  type BlobBackendName,
  type IoBackend,
  type MetadataBackend,
  type MetadataBackendName,
  type OpenContext,
  type OpenedBlobs,
  type OpenedMetadata,
} from './stores.ts';
export {
  composeBlobStore,
  openBlobBackend,
  openEmbedded,
  openMetadataBackend,
  openRepository,
  type EmbeddedOptions,
  type EmbeddedRepository,
  type OpenRepository,
  type RepositoryOptions,
} from './repository.ts';
export { openForRecovery, openVersionFromBlobStore } from './detached.ts';
export { DEFAULT_LISTEN, TARGETS as SERVE_TARGETS, type Target as ServeTarget } from './targets.ts';
