/** `nbd`: instant access to every valid version over NBD and, optionally, HTTP range requests. */
import type { Command } from 'commander';
import { openRepository } from '@blockvault/platform';
import { configOf, type Cli } from '../cli-context.ts';
import { count } from '../format.ts';
import { parseHostPort } from './parse.ts';

interface NbdOptions {
  listen: { host: string; port: number };
  httpListen?: { host: string; port: number };
  writable?: boolean;
}

export function register(program: Command, cli: Cli): void {
  program
    .command('nbd')
    .description(
      'export every valid version over NBD (export name: the version uid; blocks are fetched, checked and cached on demand), and over HTTP range requests with --http-listen; stops on SIGINT/SIGTERM',
    )
    .option('--listen <host:port>', 'the NBD address (port 0: any free port)', parseHostPort, { host: '127.0.0.1', port: 10809 })
    .option(
      '--http-listen <host:port>',
      'also serve GET/HEAD /v1/versions/UID/raw with Range requests here (behind BLOCKVAULT_TOKENS_FILE)',
      parseHostPort,
    )
    .option(
      '--writable',
      'accept writes into a copy-on-write overlay per connection, discarded when it disconnects (versions never change)',
    )
    .addHelpText(
      'after',
      `
Examples:
  blockvault nbd --listen 127.0.0.1:10809
  nbdinfo --list nbd://127.0.0.1:10809                       # the exports: uids, names and dates
  qemu-img convert -O raw nbd://127.0.0.1:10809/UID out.img  # copy a version out
  qemu-nbd --connect /dev/nbd0 nbd://127.0.0.1:10809/UID     # attach it as a block device (read-only)
  blockvault nbd --http-listen 127.0.0.1:8080 &  curl -r 0-4095 http://127.0.0.1:8080/v1/versions/UID/raw`,
    )
    .action(async (opts: NbdOptions, c: Command) => {
      const g = cli.globals(c);
      const config = configOf(g);
      const { NbdServer, HttpRangeServer, versionCatalog } = await import('@blockvault/service-access');
      const opened = await openRepository(config);
      const warn = (message: string): void => cli.io.err(`blockvault nbd: ${message}`);
      const exports = versionCatalog(opened.repository);
      const tls = config.security.tls;
      const nbd = new NbdServer({
        exports,
        writable: opts.writable ?? false,
        blockSize: opened.repository.ctx.config.blockSize,
        onWarning: warn,
        // BLOCKVAULT_TLS_*: clients must upgrade with NBD_OPT_STARTTLS (mutual TLS with BLOCKVAULT_TLS_CLIENT_AUTH=require).
        ...(tls?.cert && tls.key
          ? { tls: { cert: tls.cert, key: tls.key, ca: tls.ca, requireClientCert: tls.requireClientCert ?? false } }
          : {}),
      });
      const http = opts.httpListen
        ? new HttpRangeServer({ exports, ...(config.security.apiTokens ? { tokens: config.security.apiTokens } : {}), onWarning: warn })
        : undefined;
      try {
        const bound = await nbd.listen(opts.listen.host, opts.listen.port);
        const httpBound = http && opts.httpListen ? await http.listen(opts.httpListen.host, opts.httpListen.port) : undefined;
        const versions = (await exports.list()).length;
        const address = (a: { address: string; port: number }): string =>
          `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
        const line = {
          nbd: address(bound),
          http: httpBound ? address(httpBound) : null,
          writable: opts.writable ?? false,
          exports: versions,
          pid: process.pid,
        };
        cli.io.out(
          g.json
            ? JSON.stringify(line)
            : `serving ${count(versions, 'version')} over NBD on ${line.nbd} (nbd://${line.nbd}/UID${opts.writable ? ', writable: writes go to a per-connection overlay, discarded on disconnect' : ', read-only'})` +
                (line.http ? `, HTTP on http://${line.http}/v1/versions/UID/raw` : ''),
        );
        await new Promise<void>((done) => {
          process.once('SIGINT', done);
          process.once('SIGTERM', done);
        });
      } finally {
        await Promise.all([nbd.close(), http?.close()]);
        await opened.close();
      }
    });
}
