/**
 * pino JSON logs with the active span's `trace_id` and `span_id`, one child logger per module,
 * and secrets redacted wherever they might appear in logged objects.
 */
import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks out: credentials, tokens and keys in any logged object. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'pass',
  '*.pass',
  'authorization',
  '*.authorization',
  'secretKey',
  '*.secretKey',
  'accessKey',
  '*.accessKey',
  'key',
  '*.key',
  'masterKeys',
  '*.masterKeys',
  'creds',
  '*.creds',
];

export interface LoggerOptions {
  /** @default info (services pass BLOCKVAULT_LOG_LEVEL from the configuration) */
  readonly level?: string;
  /** @default stderr */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(service: string, options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: service,
      level: options.level ?? 'info',
      base: { service, pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin() {
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx && ctx.traceId !== '00000000000000000000000000000000' ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
    },
    options.destination ?? pino.destination(2),
  );
}
