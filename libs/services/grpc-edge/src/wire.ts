/**
 * Protobuf encoding for the messages that carry block bytes (reader Read responses and Write
 * requests, blob-store Put requests and Get responses), with one copy of the bytes instead of
 * the generated encoder's three (writer chunks, finish, Buffer.from). The small fields come
 * first, the bytes field last: field order does not matter to protobuf decoders, and each
 * message decodes to exactly what the generated encoder would have written.
 */

export type SmallField =
  | { readonly no: number; readonly type: 'uint64' | 'uint32'; readonly value: number }
  | { readonly no: number; readonly type: 'bool'; readonly value: boolean }
  | { readonly no: number; readonly type: 'string'; readonly value: string };

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/**
 * A message made of the single bytes field `bytesNo`, filled in place by `fill` (which returns
 * how many of `length` bytes it wrote): the bytes are written once, where they are sent from.
 */
export async function fillBytesMessage(bytesNo: number, length: number, fill: (into: Buffer) => Promise<number>): Promise<Buffer> {
  const room = varintLength(bytesNo * 8 + 2) + varintLength(length);
  const buf = Buffer.allocUnsafe(room + length);
  const got = await fill(buf.subarray(room, room + length));
  if (got === 0) return buf.subarray(0, 0);
  const header = varintLength(bytesNo * 8 + 2) + varintLength(got);
  const start = room - header;
  writeVarint(buf, writeVarint(buf, start, bytesNo * 8 + 2), got);
  return buf.subarray(start, room + got);
}

/**
 * The message with `fields` (proto3: zero values are omitted) and then `bytes` as field
 * `bytesNo` (omitted when empty), in one Buffer.
 */
export function encodeWithBytes(fields: readonly SmallField[], bytesNo: number, bytes: Uint8Array): Buffer {
  const strings = new Map<number, Buffer>();
  let prefix = 0;
  for (const f of fields) {
    if (f.type === 'string') {
      if (f.value === '') continue;
      const s = Buffer.from(f.value, 'utf8');
      strings.set(f.no, s);
      prefix += varintLength(f.no * 8 + 2) + varintLength(s.length) + s.length;
    } else if (f.type === 'bool') {
      if (f.value) prefix += varintLength(f.no * 8) + 1;
    } else if (f.value !== 0) {
      prefix += varintLength(f.no * 8) + varintLength(f.value);
    }
  }
  const tail = bytes.length > 0 ? varintLength(bytesNo * 8 + 2) + varintLength(bytes.length) : 0;
  const out = Buffer.allocUnsafe(prefix + tail + bytes.length);
  let at = 0;
  for (const f of fields) {
    if (f.type === 'string') {
      const s = strings.get(f.no);
      if (!s) continue;
      at = writeVarint(out, at, f.no * 8 + 2);
      at = writeVarint(out, at, s.length);
      at += s.copy(out, at);
    } else if (f.type === 'bool') {
      if (!f.value) continue;
      at = writeVarint(out, at, f.no * 8);
      out[at++] = 1;
    } else if (f.value !== 0) {
      at = writeVarint(out, at, f.no * 8);
      at = writeVarint(out, at, f.value);
    }
  }
  if (bytes.length > 0) {
    at = writeVarint(out, at, bytesNo * 8 + 2);
    at = writeVarint(out, at, bytes.length);
    out.set(bytes, at);
  }
  return out;
}
