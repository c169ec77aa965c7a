let zeros = Buffer.alloc(4 * 1024 * 1024);

/** A shared all-zero buffer of at least `length` bytes. Never write into it. */
export function zeroBuffer(length: number): Buffer {
  if (zeros.length < length) zeros = Buffer.alloc(length);
  return zeros.subarray(0, length);
}

/** True when every byte is zero (memcmp against a shared zero buffer). */
export function isZero(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.length).equals(zeroBuffer(data.length));
}

/** True when `data` is a view of the shared zero buffer. */
export function isZeroBufferView(data: Uint8Array): boolean {
  return data.buffer === zeros.buffer;
}
