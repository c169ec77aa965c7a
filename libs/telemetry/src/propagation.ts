/**
 * W3C trace context in the places OpenTelemetry does not reach by itself: NATS message headers
 * (jobs and events) and single messages inside a gRPC stream (one stream carries many blocks).
 */
import { context, propagation, ROOT_CONTEXT, type Context } from '@opentelemetry/api';

/** The active context as carrier fields (`traceparent`, `tracestate`); empty when nothing is traced. */
export function currentTraceCarrier(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a carrier names, or the root context when it names none. */
export function contextFromCarrier(carrier: Record<string, string | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier);
}
