import { readFileSync } from 'node:fs';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
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
  ScanOpen,
  ScanRequest,
  ScanResponse,
  WriteRequest,
  WriteResponse,
  type ReaderServiceServer,
} from './gen/blockvault/v1/reader.ts';
export { MetadataServiceClient, MetadataServiceService, type MetadataServiceServer } from './gen/blockvault/v1/metadata.ts';
/** The metadata service's messages, as a namespace: several share names with the job API's. */
export * as metadataPb from './gen/blockvault/v1/metadata.ts';

/**
 * What server reflection serves for `protoFile` (`blockvault/v1/jobs.proto`): its descriptor and
 * the standard health service's, as protoc wrote them with their comments
 * (`--include_source_info`), so that `grpcurl describe` shows what each service, message and field
 * means and `grpcurl ... grpc.health.v1.Health/Check` works without -proto.
 */
export function reflectionDescriptors(protoFile: string): Uint8Array[] {
  const set = readFileSync(new URL('./gen/descriptors.binpb', import.meta.url));
  const files = fieldsOf(set, 1);
  return [protoFile, 'health/v1/health.proto'].map((name) => {
    const file = files.find((f) => fileName(f) === name);
    if (!file) throw new Error(`${name} is not in the generated descriptor set (run npm run generate in libs/proto)`);
    return file;
  });
}

/** FileDescriptorProto.name. */
function fileName(file: Uint8Array): string {
  const [name] = fieldsOf(file, 1);
  return name ? new TextDecoder().decode(name) : '';
}

/** The length-delimited values of field `no` in an encoded message. */
function fieldsOf(message: Uint8Array, no: number): Uint8Array[] {
  const reader = new BinaryReader(message);
  const out: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === no && wireType === WireType.LengthDelimited) out.push(reader.bytes());
    else reader.skip(wireType);
  }
  return out;
}
