/**
 * The bytes of a stored blob: a 16-byte versioned header, then the payload.
 *
 *   0..3   magic "BVB1"
 *   4      format version (1)
 *   5      transform flags: bit 0 zstd, bit 1 AES-256-GCM (none defined in format 1 yet)
 *   6..7   header length, little endian (16; later formats may append fields)
 *   8..15  stored payload length, little endian
 *
 * Compression and encryption become new flag bits and header fields, so blobs already written
 * stay readable without a migration.
 */
import { IntegrityError } from './errors.ts';

export const BLOB_MAGIC = Buffer.from('BVB1', 'latin1');
export const BLOB_FORMAT_VERSION = 1;
export const BLOB_HEADER_LENGTH = 16;

export function encodeBlobHeader(payloadLength: number): Buffer {
  const header = Buffer.alloc(BLOB_HEADER_LENGTH);
  BLOB_MAGIC.copy(header, 0);
  header.writeUInt8(BLOB_FORMAT_VERSION, 4);
  header.writeUInt8(0, 5);
  header.writeUInt16LE(BLOB_HEADER_LENGTH, 6);
  header.writeBigUInt64LE(BigInt(payloadLength), 8);
  return header;
}

/** Returns the payload of a stored blob (a view, no copy). */
export function decodeBlob(key: string, stored: Buffer): Buffer {
  if (stored.length < BLOB_HEADER_LENGTH || !stored.subarray(0, 4).equals(BLOB_MAGIC)) {
    throw new IntegrityError(`blob ${key}: not a Blockvault blob (bad header)`);
  }
  const version = stored.readUInt8(4);
  const flags = stored.readUInt8(5);
  const headerLength = stored.readUInt16LE(6);
  if (version > BLOB_FORMAT_VERSION || flags !== 0) {
    throw new IntegrityError(`blob ${key}: format ${version} with transforms ${flags} is not supported by this version`);
  }
  const payloadLength = Number(stored.readBigUInt64LE(8));
  if (stored.length !== headerLength + payloadLength) {
    throw new IntegrityError(`blob ${key}: ${stored.length - headerLength} payload bytes, header says ${payloadLength}`);
  }
  return stored.subarray(headerLength);
}
