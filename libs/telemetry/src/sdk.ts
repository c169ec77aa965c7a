/**
 * The OpenTelemetry SDK for one process, configured by the standard OTEL_* variables (exporter,
 * endpoint, protocol, sampler, batch delays). Nothing starts unless traces are configured to go
 * somewhere: OTEL_TRACES_EXPORTER (other than `none`), OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true turns it off. Metrics and logs do
 * not go through OTLP (Prometheus and pino do that) unless their OTEL_* exporters are set.
 */

export interface Telemetry {
  /** Whether spans are recorded and exported. */
  readonly tracing: boolean;
  /** Flushes what is buffered and stops. */
  shutdown(): Promise<void>;
}

export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['OTEL_SDK_DISABLED'] === 'true') return false;
  const exporter = env['OTEL_TRACES_EXPORTER'];
  if (exporter === 'none') return false;
  return Boolean(exporter || env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

let started: Telemetry | undefined;

/**
 * Starts the SDK once per process; later calls return the same handle. The SDK (and its
 * exporters) loads only when tracing is configured: a larger heap costs every garbage
 * collection, and the data path makes many of them.
 */
export async function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  if (started) return started;
  if (!tracingConfigured(env)) {
    started = { tracing: false, shutdown: async () => undefined };
    return started;
  }
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  env['OTEL_METRICS_EXPORTER'] ??= 'none';
  env['OTEL_LOGS_EXPORTER'] ??= 'none';
  // Spans are made by hand where the work happens (libs/core/src/tracing.ts, grpc-edge, the job
  // queue); no auto-instrumentation, so nothing is recorded twice.
  const sdk = new NodeSDK({ serviceName: env['OTEL_SERVICE_NAME'] ?? serviceName, instrumentations: [] });
  sdk.start();
  started = { tracing: true, shutdown: () => sdk.shutdown() };
  return started;
}
