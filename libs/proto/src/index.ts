export * from './gen/blockvault/v1/jobs.ts';
export {
  BlobChunk,
  BlobStoreServiceClient,
  BlobStoreServiceService,
  DeleteBlobsRequest,
  DeleteBlobsResponse,
  GetBlobRequest,
  ListBlobsRequest,
  ListedBlob,
  PutBlobRequest,
  PutBlobResponse,
  StatBlobResponse,
  type BlobStoreServiceServer,
} from './gen/blockvault/v1/blobstore.ts';
export {
  CheckRequest,
  CheckResponse,
  DeriveHintsRequest,
  DeriveHintsResponse,
  ReadRequest,
  ReadResponse,
  ReaderServiceClient,
  ReaderServiceService,
  WriteRequest,
  WriteResponse,
  type ReaderServiceServer,
} from './gen/blockvault/v1/reader.ts';
export { MetadataServiceClient, MetadataServiceService, type MetadataServiceServer } from './gen/blockvault/v1/metadata.ts';
/** The metadata service's messages, as a namespace: several share names with the job API's. */
export * as metadataPb from './gen/blockvault/v1/metadata.ts';
