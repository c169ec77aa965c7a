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
