export { startTelemetry, tracingConfigured, type Telemetry } from './sdk.ts';
export { createLogger, REDACT_PATHS, type Logger, type LoggerOptions } from './logger.ts';
export * from './metrics.ts';
export * from './propagation.ts';
