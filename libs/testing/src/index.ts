export { buildImage, overwrite, tempDir, type BlockSpec, type TempDir } from './data.ts';
export { FaultyBlobStore } from './faulty-blob-store.ts';
export { Gate, type Pause } from './gated.ts';
export { metadataContract } from './metadata-contract.ts';
export { blobStoreContract } from './blob-store-contract.ts';
export * from './servers/index.ts';
export { locksContract, type LocksFactory } from './locks-contract.ts';
export { collect, eventsContract } from './events-contract.ts';
export { assertUserError, BLOCKVAULT_BIN, cli, json, type Run } from './cli.ts';
