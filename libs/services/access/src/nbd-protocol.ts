/**
 * The NBD protocol's numbers, from its specification
 * (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md): the fixed newstyle
 * handshake, its options and replies, and the transmission phase's simple replies.
 */

export const NBD_MAGIC = Buffer.from('NBDMAGIC', 'latin1');
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
export const OPTION_REPLY_MAGIC = 0x0003e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Structured reply chunks (reads, once NBD_OPT_STRUCTURED_REPLY is agreed). */
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE = { OFFSET_DATA: 1, OFFSET_HOLE: 2, ERROR: 2 ** 15 + 1 } as const;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
} as const;

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: 2 ** 31 + 1,
  ERR_POLICY: 2 ** 31 + 2,
  ERR_INVALID: 2 ** 31 + 3,
  ERR_TLS_REQD: 2 ** 31 + 5,
  ERR_UNKNOWN: 2 ** 31 + 6,
  ERR_TOO_BIG: 2 ** 31 + 9,
} as const;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags. */
export const TFLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  CAN_MULTI_CONN: 1 << 8,
} as const;

export const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 } as const;
/** Command flags this server accepts (FUA is implied: the overlay is never durable anyway). */
export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;

export const ERR = { EPERM: 1, EIO: 5, EINVAL: 22, ENOSPC: 28, EOVERFLOW: 75 } as const;

/** The largest payload of one request: what the server announces as its maximum block size. */
export const MAX_PAYLOAD = 32 * 1024 * 1024;
/** Option data larger than this is refused (export names are at most 4096 bytes). */
export const MAX_OPTION_DATA = 64 * 1024;
