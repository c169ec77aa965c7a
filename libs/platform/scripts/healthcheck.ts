/**
 * A container's health check: `node libs/platform/scripts/healthcheck.ts TARGET`, configured from
 * the same environment as the service. Exit 0 when it serves and is ready, 1 (with the reason on
 * stderr) when not, 2 on a bad argument or setting.
 */
import { isBlockvaultError } from '@blockvault/core';
import { loadConfig } from '../src/config/load.ts';
import { probe } from '../src/probe.ts';

try {
  const reason = await probe(process.argv[2] ?? '', loadConfig());
  if (reason) {
    process.stderr.write(`unhealthy: ${reason}\n`);
    process.exitCode = 1;
  }
} catch (err) {
  process.stderr.write(`healthcheck: ${(err as Error).message}\n`);
  process.exitCode = isBlockvaultError(err) ? 2 : 1;
}
