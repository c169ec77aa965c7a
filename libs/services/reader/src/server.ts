/** Serves sources and restore targets over gRPC (proto/blockvault/v1/reader.proto). */
import { context } from '@opentelemetry/api';
import {
  ATTR,
  codecFromSpec,
  ConflictError,
  createHasher,
  inSpan,
  InvalidArgumentError,
  isHashAlgorithm,
  LocalScanner,
  SPAN,
  type BlobStore,
  type BlockSource,
  type BlockTarget,
  type IoRegistry,
  isDamage,
  releaseBuffer,
  zeroBuffer,
  type BlobCodec,
  type Hasher,
  type ScannedBlock,
} from '@blockvault/core';
import { contextFromCarrier } from '@blockvault/telemetry';
import {
  encodeWithBytes,
  fillBytesMessage,
  MESSAGE_LIMIT_BYTES,
  send,
  startServer,
  toServiceError,
  type ServerSecurity,
  type StartedServer,
} from '@blockvault/grpc-edge';
import {
  ReaderServiceService,
  type ReaderServiceServer,
  type ReadRequest,
  type ReadResponse,
  type ScanOpen,
  type ScanRequest,
  type ScanResponse,
  type WriteRequest,
  type WriteResponse,
  reflectionDescriptors,
} from '@blockvault/proto';

export const READER_MESSAGE_LIMIT = MESSAGE_LIMIT_BYTES;
const MAX_READ = 64 * 1024 * 1024;

/** Handles a stream's requests one at a time, in order. */
function serially<T>(handle: (m: T) => Promise<void>, fail: (err: unknown) => void): (m: T) => void {
  let chain = Promise.resolve();
  let failed = false;
  return (m) => {
    chain = chain.then(async () => {
      if (failed) return;
      try {
        await handle(m);
      } catch (err) {
        failed = true;
        fail(err);
      }
    });
  };
}

/** Runs one message's I/O in a span continuing the trace context the message carries, if any. */
function traced<T>(
  name: string,
  m: { traceparent: string; tracestate: string; offset: number; length?: number; data?: Buffer },
  fn: () => Promise<T>,
): Promise<T> {
  if (!m.traceparent) return fn();
  const parent = contextFromCarrier({ traceparent: m.traceparent, tracestate: m.tracestate || undefined });
  return context.with(parent, () => inSpan(name, { [ATTR.offset]: m.offset, [ATTR.length]: m.length ?? m.data?.length ?? 0 }, fn));
}

/** Most blocks a Scan stream may hold, and most bytes. */
const MAX_WINDOW = 64;
const MAX_WINDOW_BYTES = 256 * 1024 * 1024;

/** The scanner a ScanOpen asks for, storing through `blobs`. */
async function openScanner(io: IoRegistry, open: ScanOpen, blobs: BlobStore): Promise<LocalScanner> {
  if (!isHashAlgorithm(open.hash)) throw new InvalidArgumentError(`unknown hash ${JSON.stringify(open.hash)}: blake3, sha256 or sha512`);
  if (open.window < 1 || open.window > MAX_WINDOW || open.window * open.blockSize > MAX_WINDOW_BYTES) {
    throw new InvalidArgumentError(`window ${open.window} of ${open.blockSize}-byte blocks: 1-${MAX_WINDOW} blocks and at most 256 MiB`);
  }
  const codec = codecFromSpec(
    {
      ...(open.compressionLevel > 0 ? { compressionLevel: open.compressionLevel } : {}),
      ...(open.dataKey.length > 0 ? { dataKey: { id: open.dataKeyId, key: open.dataKey } } : {}),
    },
    open.blockSize,
  );
  const { module, url } = io.resolve(open.url);
  const source = await module.openSource(url);
  return new LocalScanner(source, { hasher: createHasher(open.hash), codec, blobs, window: open.window, blockSize: open.blockSize });
}

/**
 * One Scan stream: blocks are read, hashed and held here; the worker answers which to store.
 * Requests run as they come (reads and stores overlap), answers go out as they finish.
 */
function scanStream(call: Parameters<ReaderServiceServer['scan']>[0], io: IoRegistry, blobs: BlobStore | undefined): void {
  let scanner: Promise<LocalScanner> | undefined;
  const held = new Map<number, ScannedBlock & { sparse: false }>();
  const running = new Set<Promise<void>>();
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    call.emit('error', toServiceError(err));
  };
  // A worker that went away (killed, cancelled) reads no more answers: nothing waits for it.
  const answer = async (m: ScanResponse): Promise<void> => void (await send(call, m));
  const handle = async (m: ScanRequest): Promise<void> => {
    if (m.open) {
      if (scanner) throw new InvalidArgumentError('a Scan stream opens one source, in its first request');
      if (!blobs) {
        throw new ConflictError(
          'this reader stores no blobs (no BLOCKVAULT_BLOBSTORE_URL or BLOCKVAULT_S3_* here): the worker reads the blocks through Read',
        );
      }
      scanner = openScanner(io, m.open, blobs);
      await answer({ opened: { sizeBytes: (await scanner).sizeBytes } });
      return;
    }
    if (!scanner) throw new InvalidArgumentError('the first request of a Scan stream opens the source');
    const open = await scanner;
    if (m.scan) {
      const { id, offset, length } = m.scan;
      if (held.has(id)) throw new InvalidArgumentError(`block ${id} is held already`);
      const found = await traced(SPAN.readerRead, m.scan, () => open.scan(offset, length));
      if (!found.sparse) held.set(id, found);
      await answer({ scanned: { id, sparse: found.sparse, digest: found.sparse ? Buffer.alloc(0) : found.digest } });
    } else if (m.store) {
      const { id, blobUid } = m.store;
      const block = held.get(id);
      if (!block) throw new InvalidArgumentError(`block ${id} is not held: scan it first`);
      held.delete(id);
      const storedSize = await traced(SPAN.readerStore, { ...m.store, offset: 0 }, () => block.store(blobUid));
      await answer({ stored: { id, storedSize } });
    } else if (m.release) {
      held.get(m.release.id)?.release();
      held.delete(m.release.id);
    }
  };
  const close = async (): Promise<void> => {
    await Promise.allSettled([...running]);
    for (const block of held.values()) block.release();
    held.clear();
    if (scanner) await (await scanner.catch((_never: unknown) => undefined))?.close();
  };
  call.on('data', (m: ScanRequest) => {
    if (failed) return;
    const p = handle(m)
      .catch(fail)
      .finally(() => running.delete(p));
    running.add(p);
  });
  call.on('end', () => void close().finally(() => call.end()));
  call.on('error', () => void close());
  call.on('cancelled', () => void close());
}

/** A placed blob's bytes, checked: undefined when it is missing or unsound here (the worker checks again). */
async function fetchVerified(blobs: BlobStore, codec: BlobCodec, hasher: Hasher, m: WriteRequest): Promise<Buffer | undefined> {
  try {
    const stored = await blobs.get(m.blobUid);
    const data = await codec.decode(m.blobUid, stored);
    // Freed now rather than at a collection (see releaseBuffer): decoded into new memory, or unsound.
    if (data.buffer !== stored.buffer) releaseBuffer(stored);
    if (data.length === m.length && hasher.digest(data).equals(m.checksum)) return data;
    releaseBuffer(data);
    return undefined;
  } catch (err) {
    // Missing or unsound is the worker's to judge; a store that is down or a key not handed over fails the stream.
    if (isDamage(err)) return undefined;
    throw err;
  }
}

/**
 * One Write stream: the first request opens the target; later ones write bytes or place blobs
 * (fetched, decoded and checked here) as they come, several at once, and are answered in order;
 * finish waits for every earlier request.
 */
function writeStream(call: Parameters<ReaderServiceServer['write']>[0], io: IoRegistry, blobs: BlobStore | undefined): void {
  let target: Promise<BlockTarget> | undefined;
  let placing: { codec: BlobCodec; hasher: Hasher } | undefined;
  /** Every request's work, in order: an answer goes out once its work and every earlier answer are done. */
  let answered: Promise<void> = Promise.resolve();
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    call.emit('error', toServiceError(err));
  };
  const work = (m: WriteRequest): Promise<WriteResponse> => {
    if (!target) {
      const { module, url } = io.resolve(m.url);
      target = module.openTarget(url, { force: m.force, resume: m.resume, sizeBytes: m.sizeBytes });
      if (m.hash && blobs) {
        if (!isHashAlgorithm(m.hash)) throw new InvalidArgumentError(`unknown hash ${JSON.stringify(m.hash)}: blake3, sha256 or sha512`);
        const codec = codecFromSpec({ dataKeys: m.dataKeys.map((k) => ({ id: k.id, key: k.key })) }, m.blockSize);
        placing = { codec, hasher: createHasher(m.hash) };
      }
      return target.then(() => ({ places: placing !== undefined, unsound: false }));
    }
    const open = target;
    if (m.finish) {
      // Every earlier request is answered (so done) once the answer chain so far settles.
      const earlier = answered;
      return (async () => {
        await earlier;
        await (await open).finish(m.sizeBytes);
        return { places: false, unsound: false };
      })();
    }
    if (m.blobUid) {
      if (!placing || !blobs)
        throw new InvalidArgumentError('this Write stream places no blobs: open it with hash, on a reader with a blob store');
      const { codec, hasher } = placing;
      const store = blobs;
      return traced(SPAN.readerWrite, m, async () => {
        const data = await fetchVerified(store, codec, hasher, m);
        if (data) {
          await (await open).write(m.offset, data);
          releaseBuffer(data);
        }
        return { places: false, unsound: data === undefined };
      });
    }
    if (m.zeros > 0) {
      if (m.zeros > MAX_READ) throw new InvalidArgumentError(`zero runs are at most ${MAX_READ} bytes`);
      return (async () => {
        const t = await open;
        // The target's own zeros: a file this restore emptied needs no write for them.
        await (t.zero ? t.zero(m.offset, m.zeros) : t.write(m.offset, zeroBuffer(m.zeros)));
        return { places: false, unsound: false };
      })();
    }
    return traced(SPAN.readerWrite, m, async () => {
      await (await open).write(m.offset, m.data);
      return { places: false, unsound: false };
    });
  };
  call.on('data', (m: WriteRequest) => {
    if (failed) return;
    let done: Promise<WriteResponse>;
    try {
      done = work(m);
    } catch (err) {
      fail(err);
      return;
    }
    answered = answered.then(async () => {
      if (failed) return;
      try {
        const answer = await done;
        await send(call, answer);
      } catch (err) {
        fail(err);
      }
    });
  });
  const close = async (): Promise<void> => {
    await answered;
    if (target) await (await target.catch((_failed: unknown) => undefined))?.close();
  };
  call.on('end', () => void close().finally(() => call.end()));
  call.on('error', () => void close());
}

export function readerService(io: IoRegistry, blobs?: BlobStore): ReaderServiceServer {
  return {
    scan: (call) => scanStream(call, io, blobs),
    read: (call) => {
      let source: BlockSource | undefined;
      const fail = (err: unknown): void => void call.emit('error', toServiceError(err));
      call.on(
        'data',
        serially<ReadRequest>(async (m) => {
          if (!source) {
            const { module, url } = io.resolve(m.url);
            source = await module.openSource(url);
            call.write({ sizeBytes: source.sizeBytes, data: Buffer.alloc(0) });
            return;
          }
          if (m.length > MAX_READ) throw new InvalidArgumentError(`reads are at most ${MAX_READ} bytes`);
          const open = source;
          // The file's bytes land in the message that is sent (READER_DEFINITION passes it through).
          const message = await traced(SPAN.readerRead, m, () =>
            fillBytesMessage(2, m.length, (into) => open.read(m.offset, m.length, into)),
          );
          await send(call, message as unknown as ReadResponse);
        }, fail),
      );
      call.on('end', () => void (source?.close() ?? Promise.resolve()).finally(() => call.end()));
      call.on('error', () => void source?.close());
    },
    write: (call) => writeStream(call, io, blobs),
    check: (call, callback) => {
      void (async () => {
        try {
          const { module, url } = io.resolve(call.request.url);
          await module.check?.(url);
          callback(null, {});
        } catch (err) {
          callback(toServiceError(err));
        }
      })();
    },
    deriveHints: (call, callback) => {
      void (async () => {
        try {
          const { module, url } = io.resolve(call.request.url);
          const hints = module.deriveHints
            ? await module.deriveHints(url, call.request.hasFromSnapshot ? call.request.fromSnapshot : null)
            : undefined;
          callback(null, { hintsJson: hints ? JSON.stringify(hints) : '' });
        } catch (err) {
          callback(toServiceError(err));
        }
      })();
    },
  };
}

export type ReaderServer = StartedServer;

/** The generated definition, with block bytes encoded in one copy (grpc-edge wire.ts). */
const READER_DEFINITION = {
  ...ReaderServiceService,
  read: {
    ...ReaderServiceService.read,
    // Block messages arrive encoded already (fillBytesMessage); the first, with the size, does not.
    responseSerialize: (m: ReadResponse | Buffer): Buffer =>
      Buffer.isBuffer(m) ? m : encodeWithBytes([{ no: 1, type: 'uint64', value: m.sizeBytes }], 2, m.data),
  },
};

/**
 * `security`: TLS and the cluster token (as its only grant, with admin). `blobs`: where Scan
 * stores new blocks (the deployment's blob store); without it, Scan is refused and workers read
 * the blocks through Read.
 */
export function serveReader(io: IoRegistry, address: string, security?: ServerSecurity, blobs?: BlobStore): Promise<ReaderServer> {
  return startServer(
    'blockvault.v1.ReaderService',
    address,
    'blockvault/v1/reader.proto',
    {
      definition: READER_DEFINITION,
      implementation: readerService(io, blobs),
      descriptors: reflectionDescriptors('blockvault/v1/reader.proto'),
    },
    security,
  );
}
