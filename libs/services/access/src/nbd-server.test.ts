/**
 * The NBD server message by message, with a client written here from the specification and an
 * export held in memory (a unit-test fake for a version). Real clients (qemu-img, qemu-io,
 * nbdinfo) against real versions are in test/engine/nbd.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { DamagedBlocksError, type Version } from '@blockvault/core';
import { tempDir, tlsFixture, type TempDir, type TlsFiles } from '@blockvault/testing';
import { NbdServer, type ExportCatalog, type ExportedVersion } from './nbd-server.ts';
import { CMD, ERR, INFO, OPT, REP, REPLY_TYPE, TFLAG } from './nbd-protocol.ts';

const SIZE = 3 * 65536 + 1000;
const DATA = randomBytes(SIZE);
/** Reads of this range fail as damage would. */
const DAMAGED_AT = 65536;

function memoryVersion(uid: string): ExportedVersion {
  return {
    version: { uid, name: 'vm', date: new Date('2026-01-02T03:04:05Z') } as Version,
    sizeBytes: SIZE,
    read: async (offset, length, into = Buffer.alloc(length)) => {
      if (offset < DAMAGED_AT + 65536 && offset + length > DAMAGED_AT) throw new DamagedBlocksError('version v1', [1]);
      DATA.copy(into, 0, offset, offset + length);
      return into.subarray(0, length);
    },
  };
}

const catalog: ExportCatalog = {
  list: async () => [
    { name: 'v1', description: 'vm 2026-01-02T03:04:05.000Z' },
    { name: 'v2', description: 'vm 2026-01-03T03:04:05.000Z' },
  ],
  open: async (name) => (name === 'v1' ? { reader: memoryVersion('v1'), description: 'vm 2026-01-02T03:04:05.000Z' } : undefined),
};

/** A minimal client: exact reads off the socket. */
class Client {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiters.splice(0).forEach((w) => w());
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiters.splice(0).forEach((w) => w());
    });
  }

  static open(port: number): Promise<Client> {
    return new Promise((done, fail) => {
      const s = connect(port, '127.0.0.1', () => done(new Client(s)));
      s.once('error', fail);
    });
  }

  async read(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.#closed) throw new Error(`closed with ${this.#buf.length} of ${n} bytes`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Resolves once the server has closed the connection. */
  async closed(): Promise<void> {
    while (!this.#closed) await new Promise<void>((r) => this.#waiters.push(r));
  }

  async handshake(): Promise<void> {
    const hello = await this.read(18);
    assert.equal(hello.subarray(0, 16).toString('latin1'), 'NBDMAGICIHAVEOPT');
    assert.equal(hello.readUInt16BE(16), 3, 'fixed newstyle, no zeroes');
    this.socket.write(u32(3));
  }

  option(option: number, data: Buffer = Buffer.alloc(0)): void {
    this.socket.write(Buffer.concat([Buffer.from('IHAVEOPT', 'latin1'), u32(option), u32(data.length), data]));
  }

  async reply(): Promise<{ option: number; type: number; data: Buffer }> {
    const head = await this.read(20);
    assert.equal(head.readBigUInt64BE(0), 0x3e889045565a9n, 'option reply magic');
    return { option: head.readUInt32BE(8), type: head.readUInt32BE(12), data: await this.read(head.readUInt32BE(16)) };
  }

  request(type: number, handle: number, offset: number, length: number, payload?: Buffer, flags = 0): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(flags, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(BigInt(handle), 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.socket.write(payload ? Buffer.concat([h, payload]) : h);
  }

  /** A simple reply: its handle, error, and `dataLength` bytes of data when it succeeded. */
  async simple(dataLength = 0): Promise<{ handle: number; error: number; data: Buffer }> {
    const head = await this.read(16);
    assert.equal(head.readUInt32BE(0), 0x67446698, 'simple reply magic');
    const error = head.readUInt32BE(4);
    return { handle: Number(head.readBigUInt64BE(8)), error, data: error === 0 ? await this.read(dataLength) : Buffer.alloc(0) };
  }
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};
const goData = (name: string, infos: number[]): Buffer =>
  Buffer.concat([u32(Buffer.byteLength(name)), Buffer.from(name), u16(infos.length), ...infos.map(u16)]);

let server: NbdServer;
let writableServer: NbdServer;
let port: number;
let writablePort: number;
const warnings: string[] = [];

before(async () => {
  server = new NbdServer({ exports: catalog, blockSize: 65536, onWarning: (m) => warnings.push(m) });
  port = (await server.listen('127.0.0.1', 0)).port;
  writableServer = new NbdServer({ exports: catalog, blockSize: 65536, writable: true });
  writablePort = (await writableServer.listen('127.0.0.1', 0)).port;
});
after(async () => {
  await server.close();
  await writableServer.close();
});

/** A client through NBD_OPT_GO of `name` (with simple replies), in transmission. */
async function attached(name = 'v1', at = port): Promise<Client> {
  const c = await Client.open(at);
  await c.handshake();
  c.option(OPT.GO, goData(name, []));
  for (;;) {
    const r = await c.reply();
    if (r.type === REP.ACK) return c;
    assert.equal(r.type, REP.INFO);
  }
}

describe('NBD server', () => {
  it('lists every export with its description, then ends on NBD_OPT_ABORT', async () => {
    const c = await Client.open(port);
    await c.handshake();
    c.option(OPT.LIST);
    const names: string[] = [];
    for (;;) {
      const r = await c.reply();
      if (r.type === REP.ACK) break;
      assert.equal(r.type, REP.SERVER);
      const len = r.data.readUInt32BE(0);
      names.push(`${r.data.subarray(4, 4 + len).toString()} | ${r.data.subarray(4 + len).toString()}`);
    }
    assert.deepEqual(names, ['v1 | vm 2026-01-02T03:04:05.000Z', 'v2 | vm 2026-01-03T03:04:05.000Z']);
    c.option(OPT.ABORT);
    assert.equal((await c.reply()).type, REP.ACK);
    await c.closed();
  });

  it('answers NBD_OPT_INFO with the size, flags, name and block sizes; an unknown export and an unknown option are refused with a reason', async () => {
    const c = await Client.open(port);
    await c.handshake();
    c.option(OPT.INFO, goData('v1', [INFO.NAME, INFO.BLOCK_SIZE]));
    const infos = new Map<number, Buffer>();
    for (;;) {
      const r = await c.reply();
      if (r.type === REP.ACK) break;
      assert.equal(r.type, REP.INFO);
      infos.set(r.data.readUInt16BE(0), r.data.subarray(2));
    }
    assert.equal(Number(infos.get(INFO.EXPORT)!.readBigUInt64BE(0)), SIZE);
    assert.equal(infos.get(INFO.EXPORT)!.readUInt16BE(8), TFLAG.HAS_FLAGS | TFLAG.READ_ONLY | TFLAG.SEND_FLUSH | TFLAG.CAN_MULTI_CONN);
    assert.equal(infos.get(INFO.NAME)!.toString(), 'v1');
    const sizes = infos.get(INFO.BLOCK_SIZE)!;
    assert.deepEqual([sizes.readUInt32BE(0), sizes.readUInt32BE(4), sizes.readUInt32BE(8)], [1, 4096, 32 * 1024 * 1024]);
    c.option(OPT.GO, goData('nope', []));
    const unknown = await c.reply();
    assert.equal(unknown.type, REP.ERR_UNKNOWN);
    assert.match(unknown.data.toString(), /no valid version nope/);
    c.option(OPT.GO, Buffer.from([1, 2, 3]));
    assert.equal((await c.reply()).type, REP.ERR_INVALID);
    c.option(99);
    assert.equal((await c.reply()).type, REP.ERR_UNSUP);
    // Still haggling after every refusal: the export opens.
    c.option(OPT.GO, goData('v1', []));
    assert.equal((await c.reply()).type, REP.INFO);
    assert.equal((await c.reply()).type, REP.ACK);
    c.request(CMD.DISC, 1, 0, 0);
    await c.closed();
  });

  it('serves NBD_OPT_EXPORT_NAME (the oldest way in) with the size and flags, no zero padding', async () => {
    const c = await Client.open(port);
    await c.handshake();
    c.option(OPT.EXPORT_NAME, Buffer.from('v1'));
    const out = await c.read(10);
    assert.equal(Number(out.readBigUInt64BE(0)), SIZE);
    c.request(CMD.READ, 7, 5, 10);
    assert.deepEqual(await c.simple(10), { handle: 7, error: 0, data: DATA.subarray(5, 15) });
    c.request(CMD.DISC, 8, 0, 0);
    await c.closed();
  });

  it('reads any range; refuses a range past the end (EINVAL) and writes on a read-only export (EPERM, payload consumed); damage is EIO', async () => {
    const c = await attached();
    c.request(CMD.READ, 1, 0, 100);
    assert.deepEqual(await c.simple(100), { handle: 1, error: 0, data: DATA.subarray(0, 100) });
    c.request(CMD.READ, 2, SIZE - 10, 10);
    assert.deepEqual((await c.simple(10)).data, DATA.subarray(SIZE - 10));
    c.request(CMD.READ, 3, SIZE - 10, 11);
    assert.deepEqual(await c.simple(), { handle: 3, error: ERR.EINVAL, data: Buffer.alloc(0) });
    c.request(CMD.WRITE, 4, 0, 4, Buffer.from('abcd'));
    assert.equal((await c.simple()).error, ERR.EPERM);
    c.request(CMD.READ, 5, DAMAGED_AT + 100, 10);
    assert.equal((await c.simple()).error, ERR.EIO);
    assert.ok(
      warnings.some((w) => /damaged/.test(w)),
      'the damage is reported to the operator',
    );
    c.request(CMD.FLUSH, 6, 0, 0);
    assert.deepEqual(await c.simple(), { handle: 6, error: 0, data: Buffer.alloc(0) });
    c.request(CMD.READ, 7, 3 * 65536, 1000);
    assert.deepEqual((await c.simple(1000)).data, DATA.subarray(3 * 65536), 'the export goes on after a damaged range');
    c.request(CMD.DISC, 8, 0, 0);
    await c.closed();
  });

  it('answers reads with structured replies once agreed: one data chunk, or an error chunk', async () => {
    const c = await Client.open(port);
    await c.handshake();
    c.option(OPT.STRUCTURED_REPLY);
    assert.equal((await c.reply()).type, REP.ACK);
    c.option(OPT.GO, goData('v1', []));
    assert.equal((await c.reply()).type, REP.INFO);
    assert.equal((await c.reply()).type, REP.ACK);
    c.request(CMD.READ, 11, 1000, 64);
    let head = await c.read(20);
    assert.deepEqual([head.readUInt32BE(0), head.readUInt16BE(4), head.readUInt16BE(6)], [0x668e33ef, 1, REPLY_TYPE.OFFSET_DATA]);
    assert.equal(Number(head.readBigUInt64BE(8)), 11);
    const body = await c.read(head.readUInt32BE(16));
    assert.equal(Number(body.readBigUInt64BE(0)), 1000);
    assert.deepEqual(body.subarray(8), DATA.subarray(1000, 1064));
    c.request(CMD.READ, 12, DAMAGED_AT, 64);
    head = await c.read(20);
    assert.equal(head.readUInt16BE(6), REPLY_TYPE.ERROR);
    assert.equal((await c.read(head.readUInt32BE(16))).readUInt32BE(0), ERR.EIO);
    c.request(CMD.DISC, 13, 0, 0);
    await c.closed();
  });

  it('with writable: writes and zeroes land in the connection overlay, read back there, and are gone on the next connection', async () => {
    const c = await attached('v1', writablePort);
    c.request(CMD.WRITE, 1, 3 * 65536 - 6, 12, Buffer.from('hello, world'));
    assert.equal((await c.simple()).error, 0);
    c.request(CMD.WRITE_ZEROES, 2, 10, 20);
    assert.equal((await c.simple()).error, 0);
    c.request(CMD.READ, 3, 0, 40);
    assert.deepEqual((await c.simple(40)).data, Buffer.concat([DATA.subarray(0, 10), Buffer.alloc(20), DATA.subarray(30, 40)]));
    c.request(CMD.READ, 4, 3 * 65536 - 6, 12);
    assert.equal((await c.simple(12)).data.toString(), 'hello, world');
    c.request(CMD.WRITE, 5, SIZE - 2, 4, Buffer.from('past'));
    assert.equal((await c.simple()).error, ERR.ENOSPC);
    c.request(CMD.DISC, 6, 0, 0);
    await c.closed();
    const again = await attached('v1', writablePort);
    again.request(CMD.READ, 1, 0, 40);
    assert.deepEqual((await again.simple(40)).data, DATA.subarray(0, 40), 'the overlay was discarded');
    again.request(CMD.DISC, 2, 0, 0);
    await again.closed();
  });

  it('hangs up on a request without the request magic, and keeps serving others', async () => {
    const c = await attached();
    c.socket.write(Buffer.alloc(28, 1));
    await c.closed();
    const d = await attached();
    d.request(CMD.READ, 1, 0, 8);
    assert.deepEqual((await d.simple(8)).data, DATA.subarray(0, 8));
    d.request(CMD.DISC, 2, 0, 0);
    await d.closed();
  });
});

describe('NBD STARTTLS', () => {
  let tlsServer: NbdServer;
  let tlsPort: number;
  let files: TlsFiles;
  let dir: TempDir;
  before(async () => {
    dir = await tempDir();
    files = await tlsFixture(dir);
    tlsServer = new NbdServer({
      exports: catalog,
      blockSize: 65536,
      tls: { cert: await readFile(files.cert), key: await readFile(files.key), ca: await readFile(files.ca), requireClientCert: true },
    });
    tlsPort = (await tlsServer.listen('127.0.0.1', 0)).port;
  });
  after(async () => {
    await tlsServer.close();
    await dir.remove();
  });

  it('answers every option but STARTTLS with NBD_REP_ERR_TLS_REQD, then serves over TLS with a client certificate', async () => {
    const c = await Client.open(tlsPort);
    await c.handshake();
    c.option(OPT.LIST);
    const early = await c.reply();
    assert.equal(early.type, REP.ERR_TLS_REQD);
    assert.match(early.data.toString(), /NBD_OPT_STARTTLS/);
    c.option(OPT.STARTTLS, Buffer.from('x'));
    assert.equal((await c.reply()).type, REP.ERR_INVALID, 'STARTTLS takes no data');
    c.option(OPT.STARTTLS);
    assert.equal((await c.reply()).type, REP.ACK);
    const secure = await new Promise<TLSSocket>((done, fail) => {
      const s = tlsConnect(
        {
          socket: c.socket,
          servername: 'localhost',
          ca: readFileSync(files.ca),
          cert: readFileSync(files.cert),
          key: readFileSync(files.key),
        },
        () => done(s),
      );
      s.once('error', fail);
    });
    const t = new Client(secure);
    t.option(OPT.LIST);
    const names: string[] = [];
    for (;;) {
      const r = await t.reply();
      if (r.type === REP.ACK) break;
      names.push(r.data.subarray(4, 4 + r.data.readUInt32BE(0)).toString());
    }
    assert.deepEqual(names, ['v1', 'v2']);
    t.option(OPT.STARTTLS);
    assert.equal((await t.reply()).type, REP.ERR_INVALID, 'TLS is already on');
    secure.destroy();
  });

  it('refuses a client whose certificate another CA signed', async () => {
    const c = await Client.open(tlsPort);
    await c.handshake();
    c.option(OPT.STARTTLS);
    assert.equal((await c.reply()).type, REP.ACK);
    await assert.rejects(
      new Promise<void>((done, fail) => {
        const s = tlsConnect(
          {
            socket: c.socket,
            servername: 'localhost',
            ca: readFileSync(files.ca),
            cert: readFileSync(files.rogueCert),
            key: readFileSync(files.rogueKey),
          },
          () => {
            // TLS 1.3 reports the refused certificate after the handshake: the first read fails.
            s.once('data', () => fail(new Error('served a client the CA did not sign')));
            s.once('close', () => fail(new Error('closed')));
            s.write(Buffer.concat([Buffer.from('IHAVEOPT', 'latin1'), u32(OPT.LIST), u32(0)]));
          },
        );
        s.once('error', fail);
        void done;
      }),
    );
  });
});
