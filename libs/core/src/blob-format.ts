/**
 * The bytes of a stored blob: a 16-byte versioned header, then the payload.
 *
 *   0..3   magic "BVB1"
 *   4      format version (1)
 *   5      transform flags: bit 0 zstd, bit 1 AES-256-GCM (blob-codec.ts)
 *   6..7   header length, little endian (16; 68 with AES-256-GCM, whose fields follow)
 *   8..15  stored payload length, little endian
 *
 * Each blob records its own transforms, so blobs written under any setting stay readable
 * without a migration.
 */

export const BLOB_MAGIC = Buffer.from('BVB1', 'latin1');
export const BLOB_FORMAT_VERSION = 1;
export const BLOB_HEADER_LENGTH = 16;

export function encodeBlobHeader(payloadLength: number, flags = 0, headerLength = BLOB_HEADER_LENGTH): Buffer {
  const header = Buffer.alloc(BLOB_HEADER_LENGTH);
  BLOB_MAGIC.copy(header, 0);
  header.writeUInt8(BLOB_FORMAT_VERSION, 4);
  header.writeUInt8(flags, 5);
  header.writeUInt16LE(headerLength, 6);
  header.writeBigUInt64LE(BigInt(payloadLength), 8);
  return header;
}
