/**
 * A minimal NBD client for the bench's latency rows: the fixed newstyle handshake, NBD_OPT_GO with
 * an export name, then simple READ requests one at a time (each timed by the caller).
 */
import { connect, type Socket } from 'node:net';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};

export class NbdClient {
  readonly #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #handle = 0n;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      this.#wake?.();
    });
  }

  static async open(host: string, port: number, exportName: string): Promise<NbdClient> {
    const socket = await new Promise<Socket>((done, fail) => {
      const s = connect(port, host, () => done(s));
      s.once('error', fail);
    });
    const c = new NbdClient(socket);
    await c.#read(18); // NBDMAGIC IHAVEOPT flags
    socket.write(u32(3)); // fixed newstyle, no zeroes
    const name = Buffer.from(exportName);
    const data = Buffer.concat([u32(name.length), name, Buffer.from([0, 0])]);
    socket.write(Buffer.concat([Buffer.from('IHAVEOPT', 'latin1'), u32(7), u32(data.length), data]));
    for (;;) {
      const head = await c.#read(20);
      const type = head.readUInt32BE(12);
      const body = await c.#read(head.readUInt32BE(16));
      if (type === 1) break; // ACK: transmission starts
      if (type >= 2 ** 31) throw new Error(`NBD_OPT_GO refused: ${body.toString()}`);
    }
    return c;
  }

  async #read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) await new Promise<void>((r) => (this.#wake = r));
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(0, 6); // NBD_CMD_READ
    h.writeBigUInt64BE(++this.#handle, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.#socket.write(h);
    const reply = await this.#read(16);
    const error = reply.readUInt32BE(4);
    if (error !== 0) throw new Error(`NBD read at ${offset} failed with error ${error}`);
    return this.#read(length);
  }

  close(): void {
    this.#socket.destroy();
  }
}
