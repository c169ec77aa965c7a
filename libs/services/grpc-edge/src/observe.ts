/**
 * Tracing and metrics of gRPC calls: clients put the active trace context into each call's
 * metadata; servers continue it in a SERVER span named `<service>/<method>` with the RPC
 * semantic-convention attributes, and time every call into blockvault_rpc_server_duration_seconds.
 */
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { errorsTotal, rpcDuration } from '@blockvault/telemetry';

const tracer = trace.getTracer('blockvault.grpc');

/** A client interceptor that sends the active trace context (W3C traceparent) with each call. */
export function traceInterceptor(): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        const carrier: Record<string, string> = {};
        propagation.inject(context.active(), carrier);
        for (const [k, v] of Object.entries(carrier)) metadata.set(k, v);
        next(metadata, listener);
      },
    });
}

function carrierOf(metadata: grpc.Metadata): Record<string, string> {
  const carrier: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const v = metadata.get(key)[0];
    if (typeof v === 'string') carrier[key] = v;
  }
  return carrier;
}

type Handler = (
  call: grpc.ServerUnaryCall<unknown, unknown>,
  callback?: (err: grpc.ServiceError | null, ...rest: unknown[]) => void,
) => void;

/** Wraps each handler of a service in a server span and a duration measurement. */
export function instrument<S extends grpc.UntypedServiceImplementation>(definition: grpc.ServiceDefinition, impl: S): S {
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(impl)) {
    const def = definition[name];
    const [service = 'unknown', method = name] = (def?.path ?? '').replace(/^\//, '').split('/');
    wrapped[name] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback?: (err: grpc.ServiceError | null, ...rest: unknown[]) => void,
    ) => {
      const parent = propagation.extract(ROOT_CONTEXT, carrierOf(call.metadata));
      const span = tracer.startSpan(
        `${service}/${method}`,
        { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method } },
        parent,
      );
      const started = performance.now();
      let ended = false;
      const finish = (code: number, message?: string): void => {
        if (ended) return;
        ended = true;
        span.setAttribute('rpc.grpc.status_code', code);
        if (code !== grpc.status.OK) span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) });
        span.end();
        rpcDuration.observe({ service, method, code: grpc.status[code] ?? String(code) }, (performance.now() - started) / 1000);
        // Refused calls, whether the guard or the handler refused them.
        if (code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED) errorsTotal.inc({ code: grpc.status[code] });
      };
      const done = callback
        ? (err: grpc.ServiceError | null, ...rest: unknown[]) => {
            finish(err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK, err?.details);
            callback(err, ...rest);
          }
        : undefined;
      if (def?.responseStream) {
        const emitter = call as unknown as NodeJS.EventEmitter;
        emitter.once('finish', () => finish(grpc.status.OK));
        emitter.once('error', (e: grpc.ServiceError) => finish(e.code ?? grpc.status.UNKNOWN, e.details));
        emitter.once('cancelled', () => finish(grpc.status.CANCELLED));
      }
      context.with(trace.setSpan(parent, span), () => (handler as Handler)(call, done));
    };
  }
  return wrapped as S;
}
