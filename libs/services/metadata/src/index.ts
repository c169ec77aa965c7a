export { RemoteMetadataStore, type RemoteMetadataOptions } from './client.ts';
export { metadataService, serveMetadata, type MetadataServer } from './server.ts';
