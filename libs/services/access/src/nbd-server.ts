/**
 * An NBD server (fixed newstyle handshake) exporting versions by uid: NBD_OPT_LIST lists them
 * with their names and dates, NBD_OPT_GO / NBD_OPT_INFO (and the old NBD_OPT_EXPORT_NAME) open
 * one, with block-size constraints. In transmission: READ, FLUSH and DISC; with `writable`, WRITE,
 * TRIM and WRITE_ZEROES go to a copy-on-write overlay of the connection's own that never touches
 * the version and is discarded when the connection ends. Reads are answered with structured
 * replies when the client agrees to them (qemu needs them for a size that is not a multiple of
 * 512), else simple replies; reads run concurrently and are answered as they finish, as the
 * protocol allows.
 *
 * No npm package implements the server side of NBD, so this follows the protocol specification
 * (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import { DamagedBlocksError, InvalidArgumentError, type VersionReader } from '@blockvault/core';
import {
  CMD,
  CMD_FLAG_DF,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  ERR,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_OPTION_DATA,
  MAX_PAYLOAD,
  NBD_MAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TFLAG,
} from './nbd-protocol.ts';
import { Overlay, type BlockSource } from './overlay.ts';

/** One exported version, read at any offset (a VersionReader). */
export type ExportedVersion = Pick<VersionReader, 'version' | 'sizeBytes' | 'read'>;

/** What the server exports: the versions a client may open, by name (the version uid). */
export interface ExportCatalog {
  /** Every export with a one-line description (name and date). */
  list(): Promise<{ name: string; description: string }[]>;
  /** Opens an export for one connection; undefined when no export has that name. */
  open(name: string): Promise<{ reader: ExportedVersion; description: string } | undefined>;
}

export interface NbdServerOptions {
  readonly exports: ExportCatalog;
  /** Accept writes into a per-connection copy-on-write overlay. @default false */
  readonly writable?: boolean;
  /** The repository's block size: the overlay's unit and the preferred I/O size announced. */
  readonly blockSize: number;
  /** Where overlay files go. @default the system temp directory */
  readonly overlayDir?: string;
  /** Requests of one connection answered at once, at most. @default 16 */
  readonly concurrency?: number;
  /** Problems worth an operator's attention (a damaged block read, a client that broke the protocol). */
  readonly onWarning?: (message: string) => void;
  /**
   * TLS through NBD_OPT_STARTTLS (the same certificates as gRPC): a client must upgrade before
   * any other option (NBD_REP_ERR_TLS_REQD until it does); with requireClientCert, only clients
   * with a certificate the CA signed.
   */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer; readonly requireClientCert?: boolean };
}

/** A connection closed or broke the protocol: the connection ends, the server goes on. */
class Hangup extends Error {}

/** Reads exact byte counts from a socket, pausing it while enough is buffered. */
class Incoming {
  readonly #socket: Socket;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length > 2 * MAX_PAYLOAD) this.#socket.pause();
    this.#serve();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#serve();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Stops reading the socket (it is handed to TLS); nothing may be buffered past the last read. */
  detach(): void {
    if (this.#length > 0) throw new Hangup('data sent before the TLS handshake');
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#want = { n, resolve, reject };
      this.#serve();
    });
  }

  #serve(): void {
    const want = this.#want;
    if (!want) return;
    if (this.#length >= want.n) {
      this.#want = undefined;
      const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#length);
      const out = all.subarray(0, want.n);
      const rest = all.subarray(want.n);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#length = rest.length;
      if (this.#length <= MAX_PAYLOAD) this.#socket.resume();
      want.resolve(out);
    } else if (this.#ended) {
      this.#want = undefined;
      want.reject(new Hangup('the client closed the connection'));
    }
  }
}

export class NbdServer {
  readonly #o: NbdServerOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #tls: SecureContext | undefined;

  constructor(options: NbdServerOptions) {
    this.#o = options;
    this.#tls =
      options.tls &&
      createSecureContext({ cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca } : {}) });
    this.#server = createServer((socket) => this.#connection(socket));
  }

  /** Starts listening; resolves with the bound address. */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((done, fail) => {
      this.#server.once('error', fail);
      this.#server.listen(port, host, () => {
        this.#server.off('error', fail);
        done(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting connections and ends the open ones (their overlays are discarded). */
  async close(): Promise<void> {
    const closed = new Promise<void>((done) => this.#server.close(() => done()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #warn(message: string): void {
    this.#o.onWarning?.(message);
  }

  #connection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    void this.#session(socket, new Incoming(socket))
      .catch((err: unknown) => {
        if (!(err instanceof Hangup)) this.#warn(`NBD client ${peer}: ${(err as Error).message}`);
      })
      .finally(() => {
        this.#sockets.delete(socket);
        socket.destroy();
      });
  }

  async #session(socket: Socket, incoming: Incoming): Promise<void> {
    const greeting = Buffer.alloc(18);
    NBD_MAGIC.copy(greeting, 0);
    IHAVEOPT.copy(greeting, 8);
    greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    socket.write(greeting);
    const clientFlags = (await incoming.read(4)).readUInt32BE(0);
    if (!(clientFlags & FLAG_C_FIXED_NEWSTYLE)) throw new Hangup('client without the fixed newstyle handshake');
    const noZeroes = (clientFlags & FLAG_C_NO_ZEROES) !== 0;
    const conn = { socket, incoming };
    const opened = await this.#haggle(conn, noZeroes);
    if (!opened) return;
    const { reader, structured } = opened;
    const source: BlockSource = this.#o.writable ? await Overlay.create(reader, this.#o.blockSize, this.#o.overlayDir) : reader;
    try {
      await this.#transmission(conn.socket, conn.incoming, source, structured);
    } finally {
      if (source instanceof Overlay) await source.discard();
    }
  }

  #transmissionFlags(): number {
    return this.#o.writable
      ? TFLAG.HAS_FLAGS | TFLAG.SEND_FLUSH | TFLAG.SEND_TRIM | TFLAG.SEND_WRITE_ZEROES
      : TFLAG.HAS_FLAGS | TFLAG.READ_ONLY | TFLAG.SEND_FLUSH | TFLAG.CAN_MULTI_CONN;
  }

  /** Upgrades a connection to TLS after NBD_OPT_STARTTLS was acknowledged. */
  async #startTls(conn: { socket: Socket; incoming: Incoming }): Promise<void> {
    conn.incoming.detach();
    const required = this.#o.tls?.requireClientCert ?? false;
    const secure = new TLSSocket(conn.socket, {
      isServer: true,
      secureContext: this.#tls!,
      requestCert: required,
      rejectUnauthorized: required,
    });
    secure.on('error', () => undefined);
    await new Promise<void>((done, fail) => {
      secure.once('secure', done);
      secure.once('error', (err) => fail(new Hangup(`TLS handshake failed: ${err.message}`)));
      secure.once('close', () => fail(new Hangup('the client closed the connection during the TLS handshake')));
    });
    conn.socket = secure;
    conn.incoming = new Incoming(secure);
  }

  /** Option haggling; resolves with the export to transmit, or undefined when the client aborted. */
  async #haggle(
    conn: { socket: Socket; incoming: Incoming },
    noZeroes: boolean,
  ): Promise<{ reader: ExportedVersion; structured: boolean } | undefined> {
    let structured = false;
    let secured = false;
    const reply = (option: number, type: number, data: Buffer = Buffer.alloc(0)): void => {
      const head = Buffer.alloc(20);
      head.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
      head.writeUInt32BE(option, 8);
      head.writeUInt32BE(type, 12);
      head.writeUInt32BE(data.length, 16);
      conn.socket.write(Buffer.concat([head, data]));
    };
    const refuse = (option: number, type: number, message: string): void => reply(option, type, Buffer.from(message, 'utf8'));
    for (;;) {
      const head = await conn.incoming.read(16);
      if (!head.subarray(0, 8).equals(IHAVEOPT)) throw new Hangup('option without the IHAVEOPT magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > MAX_OPTION_DATA) {
        refuse(option, REP.ERR_TOO_BIG, `option data of ${length} bytes is too large`);
        throw new Hangup('option data too large');
      }
      const data = await conn.incoming.read(length);
      // With TLS configured, nothing but STARTTLS (or ABORT) before the upgrade: no export names leak.
      if (this.#tls && !secured && option !== OPT.STARTTLS && option !== OPT.ABORT) {
        if (option === OPT.EXPORT_NAME) throw new Hangup('NBD_OPT_EXPORT_NAME before STARTTLS on a TLS server');
        refuse(option, REP.ERR_TLS_REQD, 'this server requires TLS: send NBD_OPT_STARTTLS first');
        continue;
      }
      switch (option) {
        case OPT.EXPORT_NAME: {
          const opened = await this.#o.exports.open(data.toString('utf8'));
          if (!opened) throw new Hangup(`unknown export ${JSON.stringify(data.toString('utf8'))}`);
          const out = Buffer.alloc(noZeroes ? 10 : 134);
          out.writeBigUInt64BE(BigInt(opened.reader.sizeBytes), 0);
          out.writeUInt16BE(this.#transmissionFlags(), 8);
          conn.socket.write(out);
          return { reader: opened.reader, structured };
        }
        case OPT.ABORT:
          reply(option, REP.ACK);
          return undefined;
        case OPT.LIST: {
          if (length !== 0) {
            refuse(option, REP.ERR_INVALID, 'NBD_OPT_LIST takes no data');
            break;
          }
          for (const e of await this.#o.exports.list()) {
            const name = Buffer.from(e.name, 'utf8');
            const len = Buffer.alloc(4);
            len.writeUInt32BE(name.length, 0);
            reply(option, REP.SERVER, Buffer.concat([len, name, Buffer.from(e.description, 'utf8')]));
          }
          reply(option, REP.ACK);
          break;
        }
        case OPT.INFO:
        case OPT.GO: {
          const parsed = parseInfoRequest(data);
          if (!parsed) {
            refuse(option, REP.ERR_INVALID, 'malformed NBD_OPT_INFO/GO data');
            break;
          }
          if (parsed.name === '') {
            refuse(option, REP.ERR_UNKNOWN, 'there is no default export: name a version uid (NBD_OPT_LIST lists them)');
            break;
          }
          const opened = await this.#o.exports.open(parsed.name);
          if (!opened) {
            refuse(option, REP.ERR_UNKNOWN, `no valid version ${parsed.name} (NBD_OPT_LIST lists the exports)`);
            break;
          }
          const exp = Buffer.alloc(12);
          exp.writeUInt16BE(INFO.EXPORT, 0);
          exp.writeBigUInt64BE(BigInt(opened.reader.sizeBytes), 2);
          exp.writeUInt16BE(this.#transmissionFlags(), 10);
          reply(option, REP.INFO, exp);
          for (const kind of parsed.requests) {
            if (kind === INFO.NAME) reply(option, REP.INFO, Buffer.concat([u16(INFO.NAME), Buffer.from(parsed.name, 'utf8')]));
            if (kind === INFO.DESCRIPTION)
              reply(option, REP.INFO, Buffer.concat([u16(INFO.DESCRIPTION), Buffer.from(opened.description, 'utf8')]));
            if (kind === INFO.BLOCK_SIZE) {
              const sizes = Buffer.alloc(14);
              sizes.writeUInt16BE(INFO.BLOCK_SIZE, 0);
              sizes.writeUInt32BE(1, 2);
              sizes.writeUInt32BE(Math.min(this.#o.blockSize, 4096), 6);
              sizes.writeUInt32BE(MAX_PAYLOAD, 10);
              reply(option, REP.INFO, sizes);
            }
          }
          reply(option, REP.ACK);
          if (option === OPT.GO) return { reader: opened.reader, structured };
          break;
        }
        case OPT.STRUCTURED_REPLY:
          if (length !== 0) refuse(option, REP.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
          else {
            structured = true;
            reply(option, REP.ACK);
          }
          break;
        case OPT.STARTTLS:
          if (!this.#tls) refuse(option, REP.ERR_POLICY, 'TLS is not configured on this server');
          else if (secured || length !== 0)
            refuse(option, REP.ERR_INVALID, secured ? 'TLS is already on' : 'NBD_OPT_STARTTLS takes no data');
          else {
            reply(option, REP.ACK);
            await this.#startTls(conn);
            secured = true;
          }
          break;
        default:
          refuse(option, REP.ERR_UNSUP, `option ${option} is not supported`);
      }
    }
  }

  async #transmission(socket: Socket, incoming: Incoming, source: BlockSource, structured: boolean): Promise<void> {
    const size = source.sizeBytes;
    const limit = this.#o.concurrency ?? 16;
    const running = new Set<Promise<void>>();
    const answer = (handle: Buffer, error: number, data?: Buffer): void => {
      if (socket.destroyed) return;
      const head = Buffer.alloc(16);
      head.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      head.writeUInt32BE(error, 4);
      handle.copy(head, 8);
      socket.cork();
      socket.write(head);
      if (data) socket.write(data);
      socket.uncork();
    };
    /** A read's answer: one chunk (its data, or its error) when structured replies are agreed, else a simple reply. */
    const answerRead = (handle: Buffer, offset: number, error: number, data?: Buffer): void => {
      if (!structured) return answer(handle, error, data);
      if (socket.destroyed) return;
      const head = Buffer.alloc(20);
      head.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
      head.writeUInt16BE(REPLY_FLAG_DONE, 4);
      handle.copy(head, 8);
      let payload: Buffer;
      if (error === 0 && data) {
        head.writeUInt16BE(REPLY_TYPE.OFFSET_DATA, 6);
        payload = Buffer.alloc(8);
        payload.writeBigUInt64BE(BigInt(offset), 0);
        head.writeUInt32BE(8 + data.length, 16);
      } else {
        head.writeUInt16BE(REPLY_TYPE.ERROR, 6);
        payload = Buffer.alloc(6);
        payload.writeUInt32BE(error, 0);
        head.writeUInt32BE(payload.length, 16);
      }
      socket.cork();
      socket.write(head);
      socket.write(payload);
      if (error === 0 && data) socket.write(data);
      socket.uncork();
    };
    const failure = (err: unknown, what: string): number => {
      if (err instanceof DamagedBlocksError) {
        this.#warn(`${what}: ${err.message}`);
        return ERR.EIO;
      }
      if (err instanceof InvalidArgumentError) return ERR.EINVAL;
      this.#warn(`${what}: ${(err as Error).message}`);
      return ERR.EIO;
    };
    const run = async (work: () => Promise<void>): Promise<void> => {
      while (running.size >= limit) await Promise.race(running);
      const p = work().finally(() => running.delete(p));
      running.add(p);
      // Writes into the overlay run one at a time anyway (it serializes them); reads overlap.
    };
    for (;;) {
      const head = await incoming.read(28);
      if (head.readUInt32BE(0) !== REQUEST_MAGIC) throw new Hangup('request without the request magic');
      const flags = head.readUInt16BE(4);
      const type = head.readUInt16BE(6);
      const handle = Buffer.from(head.subarray(8, 16));
      const offset = Number(head.readBigUInt64BE(16));
      const length = head.readUInt32BE(24);
      const inRange = offset + length <= size;
      if (type === CMD.WRITE) {
        // The payload follows the header whatever the answer.
        if (length > MAX_PAYLOAD) throw new Hangup(`write of ${length} bytes exceeds the ${MAX_PAYLOAD}-byte maximum`);
        const data = await incoming.read(length);
        if (!this.#o.writable) answer(handle, ERR.EPERM);
        else if (!inRange) answer(handle, ERR.ENOSPC);
        else if (flags & ~CMD_FLAG_FUA) answer(handle, ERR.EINVAL);
        else
          await run(async () => {
            const error = await source.write!(offset, data).then(
              () => 0,
              (err: unknown) => failure(err, `write at ${offset}`),
            );
            answer(handle, error);
          });
        continue;
      }
      switch (type) {
        case CMD.READ:
          // DF (don't fragment) is moot: a read is always answered in one chunk.
          if (!inRange || length > MAX_PAYLOAD || (flags & ~CMD_FLAG_DF) !== 0) {
            answerRead(handle, offset, length > MAX_PAYLOAD ? ERR.EOVERFLOW : ERR.EINVAL);
            break;
          }
          await run(async () => {
            try {
              const data = await source.read(offset, length);
              answerRead(handle, offset, 0, data);
            } catch (err) {
              answerRead(handle, offset, failure(err, `read of ${length} bytes at ${offset}`));
            }
          });
          break;
        case CMD.DISC:
          await Promise.allSettled(running);
          return;
        case CMD.FLUSH:
          // Nothing is durable here (the version never changes, the overlay is discarded): answer once earlier requests are.
          await Promise.allSettled(running);
          answer(handle, 0);
          break;
        case CMD.TRIM:
        case CMD.WRITE_ZEROES:
          if (!this.#o.writable) answer(handle, ERR.EPERM);
          else if (!inRange) answer(handle, ERR.ENOSPC);
          else if (flags & ~(CMD_FLAG_FUA | CMD_FLAG_NO_HOLE)) answer(handle, ERR.EINVAL);
          else
            await run(async () => {
              const error = await source.write!(offset, length).then(
                () => 0,
                (err: unknown) => failure(err, `zeroing at ${offset}`),
              );
              answer(handle, error);
            });
          break;
        default:
          answer(handle, ERR.EINVAL);
      }
    }
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** NBD_OPT_INFO / NBD_OPT_GO data: u32 name length, name, u16 count, count × u16 info types. */
function parseInfoRequest(data: Buffer): { name: string; requests: number[] } | undefined {
  if (data.length < 6) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (4 + nameLength + 2 > data.length) return undefined;
  const name = data.subarray(4, 4 + nameLength).toString('utf8');
  const count = data.readUInt16BE(4 + nameLength);
  if (data.length !== 4 + nameLength + 2 + 2 * count) return undefined;
  const requests = Array.from({ length: count }, (_, i) => data.readUInt16BE(4 + nameLength + 2 + 2 * i));
  return { name, requests };
}
