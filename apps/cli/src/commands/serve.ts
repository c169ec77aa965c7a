/** `serve`: run the services, all in one process or one target. */
import { Command, Option } from 'commander';
import { SERVE_TARGETS, type ServeTarget } from '@blockvault/platform';
import { configOf, type Cli } from '../cli-context.ts';

export function register(program: Command, cli: Cli): void {
  program
    .command('serve')
    .description(
      'run services: the job API (scheduler), a worker, both (all), the blob-store, reader or metadata service, or access (every valid version over NBD, and HTTP ranges with BLOCKVAULT_HTTP_LISTEN); stops on SIGINT/SIGTERM',
    )
    .addOption(
      new Option('--target <target>', 'which modules run here: all (job API, scheduler and a worker in one process), or one service')
        .choices([...SERVE_TARGETS])
        .default('all'),
    )
    .option(
      '--listen <host:port>',
      'the gRPC address (default: $BLOCKVAULT_GRPC_LISTEN, else job API 127.0.0.1:7070, blob-store :7071, reader :7072, metadata :7073); for access, the NBD address unless $BLOCKVAULT_NBD_LISTEN is set (else 127.0.0.1:10809)',
    )
    .option(
      '--nats <url>',
      'NATS with JetStream (default: $BLOCKVAULT_NATS_URL; unset: `all` queues jobs in process, scheduler and worker use nats://127.0.0.1:4222)',
    )
    .action(async (opts: { target: ServeTarget; listen?: string; nats?: string }, c: Command) => {
      const g = cli.globals(c);
      const config = configOf(g, { ...(opts.listen ? { listen: opts.listen } : {}), ...(opts.nats ? { natsUrl: opts.nats } : {}) });
      const { serve, startTelemetry } = await import('@blockvault/platform/serve');
      // Tracing (OTEL_* variables) before anything that makes spans.
      const telemetry = await startTelemetry(`blockvault-${opts.target}`);
      const running = await serve({ target: opts.target, config });
      cli.print(
        g,
        {
          modules: running.modules,
          port: running.port ?? null,
          metricsPort: running.metricsPort ?? null,
          httpPort: running.httpPort ?? null,
          nbdPort: running.nbdPort ?? null,
          queue: running.queue ?? null,
          pid: process.pid,
        },
        () =>
          `serving ${running.modules.join(', ')}${running.port ? ` (gRPC on port ${running.port})` : ''}${running.queue ? ` (jobs queued ${running.queue === 'jetstream' ? 'in NATS JetStream' : 'in process'})` : ''}${running.metricsPort ? ` (metrics on port ${running.metricsPort})` : ''}${running.nbdPort ? ` (NBD on port ${running.nbdPort})` : ''}${running.httpPort ? ` (${running.nbdPort ? 'HTTP ranges' : 'dashboard'} on http://localhost:${running.httpPort}/)` : ''}`,
      );
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await running.stop();
      await telemetry.shutdown();
    });
}
