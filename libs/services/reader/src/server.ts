/** Serves sources and restore targets over gRPC (proto/blockvault/v1/reader.proto). */
import { context } from '@opentelemetry/api';
import { ATTR, inSpan, InvalidArgumentError, SPAN, type BlockSource, type BlockTarget, type IoRegistry } from '@blockvault/core';
import { contextFromCarrier } from '@blockvault/telemetry';
import {
  encodeWithBytes,
  fillBytesMessage,
  MESSAGE_LIMIT_BYTES,
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
  type WriteRequest,
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

export function readerService(io: IoRegistry): ReaderServiceServer {
  return {
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
          if (!call.write(message as unknown as ReadResponse)) await new Promise((r) => call.once('drain', r));
        }, fail),
      );
      call.on('end', () => void (source?.close() ?? Promise.resolve()).finally(() => call.end()));
      call.on('error', () => void source?.close());
    },
    write: (call) => {
      let target: BlockTarget | undefined;
      const fail = (err: unknown): void => void call.emit('error', toServiceError(err));
      call.on(
        'data',
        serially<WriteRequest>(async (m) => {
          if (!target) {
            const { module, url } = io.resolve(m.url);
            target = await module.openTarget(url, { force: m.force, resume: m.resume, sizeBytes: m.sizeBytes });
          } else if (m.finish) {
            await target.finish(m.sizeBytes);
          } else {
            const open = target;
            await traced(SPAN.readerWrite, m, () => open.write(m.offset, m.data));
          }
          call.write({});
        }, fail),
      );
      call.on('end', () => void (target?.close() ?? Promise.resolve()).finally(() => call.end()));
      call.on('error', () => void target?.close());
    },
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

/** `security`: TLS and the cluster token (as its only grant, with admin). */
export function serveReader(io: IoRegistry, address: string, security?: ServerSecurity): Promise<ReaderServer> {
  return startServer(
    'blockvault.v1.ReaderService',
    address,
    'blockvault/v1/reader.proto',
    { definition: READER_DEFINITION, implementation: readerService(io), descriptors: reflectionDescriptors('blockvault/v1/reader.proto') },
    security,
  );
}
