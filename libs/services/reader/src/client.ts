/**
 * An IoModule that is the reader service: a worker that does not reach a source or target
 * itself reads and writes its blocks through it. One module per scheme it forwards.
 */
import * as grpc from '@grpc/grpc-js';
import {
  parseHints,
  UnavailableError,
  type BlockScanner,
  type BlockSource,
  type BlockTarget,
  type Hint,
  type IoModule,
  type OpenTargetOptions,
  type ScannedBlock,
  type ScanSpec,
} from '@blockvault/core';
import { channelCredentials, clientOptions, encodeWithBytes, fromServiceError, send, type ClientSecurity } from '@blockvault/grpc-edge';
import {
  ReaderServiceClient,
  ReaderServiceService,
  type ReadResponse,
  type ScanRequest,
  type ScanResponse,
  WriteRequest,
} from '@blockvault/proto';
import { currentTraceCarrier } from '@blockvault/telemetry';

/** The generated client, with block bytes encoded in one copy (grpc-edge wire.ts). */
const ReaderClient = grpc.makeGenericClientConstructor(
  {
    ...ReaderServiceService,
    write: {
      ...ReaderServiceService.write,
      // Block bytes in one copy; messages without them (open, place, finish) through the generated encoder.
      requestSerialize: (m: WriteRequest): Buffer =>
        m.data.length === 0
          ? Buffer.from(WriteRequest.encode(m).finish())
          : encodeWithBytes(
              [
                { no: 1, type: 'string', value: m.url },
                { no: 2, type: 'bool', value: m.force },
                { no: 3, type: 'bool', value: m.resume },
                { no: 4, type: 'uint64', value: m.sizeBytes },
                { no: 5, type: 'uint64', value: m.offset },
                { no: 7, type: 'bool', value: m.finish },
                { no: 8, type: 'string', value: m.traceparent },
                { no: 9, type: 'string', value: m.tracestate },
              ],
              6,
              m.data,
            ),
    },
  },
  'blockvault.v1.ReaderService',
) as unknown as typeof ReaderServiceClient;

/** The key of a Scan stream's open request among its pending answers (block ids are >= 0). */
const OPEN_ID = -1;

/** The active trace context for one message of a stream. */
function traceFields(): { traceparent: string; tracestate: string } {
  const carrier = currentTraceCarrier();
  return { traceparent: carrier['traceparent'] ?? '', tracestate: carrier['tracestate'] ?? '' };
}

/** A bidirectional stream whose responses answer its requests in order. */
class Pipeline<Req, Res> {
  readonly #call: grpc.ClientDuplexStream<Req, Res>;
  readonly #pending: { resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  #error: Error | undefined;

  constructor(call: grpc.ClientDuplexStream<Req, Res>, where: string) {
    this.#call = call;
    call.on('data', (r: Res) => this.#pending.shift()?.resolve(r));
    call.on('error', (err: grpc.ServiceError) => {
      this.#error = fromServiceError(err, where);
      for (const p of this.#pending.splice(0)) p.reject(this.#error);
    });
    call.on('end', () => {
      this.#error ??= new Error(`${where}: the stream ended`);
      for (const p of this.#pending.splice(0)) p.reject(this.#error);
    });
  }

  async request(req: Req): Promise<Res> {
    if (this.#error) throw this.#error;
    const answer = new Promise<Res>((resolve, reject) => this.#pending.push({ resolve, reject }));
    await send(this.#call, req); // a stream that failed rejects the answer
    return answer;
  }

  end(): void {
    this.#call.end();
  }
}

export class RemoteIo implements IoModule {
  readonly scheme: string;
  readonly #client: ReaderServiceClient;
  readonly #where: string;

  constructor(scheme: string, address: string, security?: ClientSecurity) {
    this.scheme = scheme;
    this.#where = `reader service ${address}`;
    this.#client = new ReaderClient(address, channelCredentials(security?.tls), clientOptions(security));
  }

  async openSource(url: URL): Promise<BlockSource> {
    const pipe = new Pipeline(this.#client.read(), this.#where);
    const first = await pipe.request({ url: url.href, offset: 0, length: 0, traceparent: '', tracestate: '' });
    return {
      url: url.href,
      sizeBytes: first.sizeBytes,
      read: async (offset: number, length: number, into: Buffer): Promise<number> => {
        const r: ReadResponse = await pipe.request({ url: '', offset, length, ...traceFields() });
        r.data.copy(into, 0); // already a Buffer (ts-proto env=node): no second copy
        return r.data.length;
      },
      close: async () => pipe.end(),
    };
  }

  async openTarget(url: URL, options: OpenTargetOptions): Promise<BlockTarget> {
    const pipe = new Pipeline(this.#client.write(), this.#where);
    const base: WriteRequest = {
      url: '',
      force: false,
      resume: false,
      sizeBytes: 0,
      offset: 0,
      data: Buffer.alloc(0),
      finish: false,
      traceparent: '',
      tracestate: '',
      hash: '',
      blockSize: 0,
      dataKeys: [],
      blobUid: '',
      checksum: Buffer.alloc(0),
      length: 0,
      zeros: 0,
    };
    const placing = options.placing;
    const opened = await pipe.request({
      ...base,
      url: url.href,
      force: options.force,
      resume: options.resume,
      sizeBytes: options.sizeBytes,
      ...(placing
        ? {
            hash: placing.hash,
            blockSize: placing.blockSize,
            dataKeys: [...(placing.transforms.dataKeys ?? [])].map((k) => ({ id: k.id, key: k.key })),
          }
        : {}),
    });
    return {
      url: url.href,
      write: async (offset: number, data: Uint8Array): Promise<void> => {
        await pipe.request({ ...base, offset, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), ...traceFields() });
      },
      zero: async (offset: number, length: number): Promise<void> => {
        await pipe.request({ ...base, offset, zeros: length });
      },
      // Restores where the data goes: the reader fetches, decodes and checks each blob itself.
      ...(opened.places
        ? {
            place: async (offset: number, length: number, blob: { uid: string; checksum: Buffer }): Promise<boolean> => {
              const r = await pipe.request({ ...base, offset, length, blobUid: blob.uid, checksum: blob.checksum, ...traceFields() });
              return !r.unsound;
            },
          }
        : {}),
      finish: async (sizeBytes: number): Promise<void> => {
        await pipe.request({ ...base, sizeBytes, finish: true });
      },
      close: async () => pipe.end(),
    };
  }

  /**
   * Hashing where the data is: the reader reads, checks for zeros and hashes each block, and stores
   * the new ones through its blob store; only digests come here. Undefined when this reader stores
   * no blobs (or predates Scan): the engine then reads the blocks through openSource.
   */
  async openScanner(url: URL, spec: ScanSpec): Promise<BlockScanner | undefined> {
    const call = this.#client.scan();
    const where = this.#where;
    const waiting = new Map<number, { resolve: (r: ScanResponse) => void; reject: (e: Error) => void }>();
    let error: Error | undefined;
    let refusedOpen = false;
    const failAll = (err: Error): void => {
      error ??= err;
      for (const w of waiting.values()) w.reject(error);
      waiting.clear();
    };
    call.on('data', (r: ScanResponse) => {
      const id = r.opened ? OPEN_ID : (r.scanned?.id ?? r.stored?.id ?? -2);
      const w = waiting.get(id);
      waiting.delete(id);
      w?.resolve(r);
    });
    call.on('error', (err: grpc.ServiceError) => {
      refusedOpen = err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.UNIMPLEMENTED;
      failAll(fromServiceError(err, where));
    });
    call.on('end', () => failAll(new UnavailableError(`${where}: the Scan stream ended`)));
    const request = async (id: number, req: ScanRequest): Promise<ScanResponse> => {
      if (error) throw error;
      const answer = new Promise<ScanResponse>((resolve, reject) => waiting.set(id, { resolve, reject }));
      await send(call, req); // a stream that failed rejects the answer
      return answer;
    };
    let opened: ScanResponse;
    try {
      opened = await request(OPEN_ID, {
        open: {
          url: url.href,
          hash: spec.hash,
          window: spec.window,
          blockSize: spec.blockSize,
          compressionLevel: spec.transforms.compressionLevel ?? 0,
          dataKeyId: spec.transforms.dataKey?.id ?? Buffer.alloc(0),
          dataKey: spec.transforms.dataKey?.key ?? Buffer.alloc(0),
        },
      });
    } catch (err) {
      call.end();
      if (refusedOpen) return undefined;
      throw err;
    }
    let next = 0;
    return {
      url: url.href,
      sizeBytes: opened.opened!.sizeBytes,
      remote: true,
      scan: async (offset: number, length: number): Promise<ScannedBlock> => {
        const id = next++;
        const { scanned } = await request(id, { scan: { id, offset, length, ...traceFields() } });
        if (!scanned || scanned.sparse) return { sparse: true };
        let held = true;
        return {
          sparse: false,
          digest: scanned.digest,
          store: async (blobUid: string): Promise<number> => {
            held = false;
            const { stored } = await request(id, { store: { id, blobUid, ...traceFields() } });
            return stored?.storedSize ?? 0;
          },
          release: (): void => {
            if (held && !error) call.write({ release: { id } });
            held = false;
          },
        };
      },
      close: async () => {
        call.end();
      },
    };
  }

  /** Asks the reader whether the URL is inside its I/O roots (the job API calls it on submit). */
  check(url: URL): Promise<void> {
    return new Promise((done, fail) =>
      this.#client.check({ url: url.href }, (err) => (err ? fail(fromServiceError(err, this.#where)) : done())),
    );
  }

  deriveHints(url: URL, fromSnapshot: string | null): Promise<Hint[] | undefined> {
    return new Promise((done, fail) =>
      this.#client.deriveHints({ url: url.href, hasFromSnapshot: fromSnapshot !== null, fromSnapshot: fromSnapshot ?? '' }, (err, res) =>
        err ? fail(fromServiceError(err, this.#where)) : done(res.hintsJson ? parseHints(res.hintsJson, this.#where) : undefined),
      ),
    );
  }
}
