/**
 * Is a service process healthy? What a container's HEALTHCHECK runs inside the container
 * (`node libs/platform/scripts/healthcheck.ts TARGET`): the standard gRPC health check of the
 * target's server on loopback, and `/readyz` on its metrics port when metrics are served. A
 * worker has no gRPC server, so its only probe is `/readyz`.
 */
import { InvalidArgumentError } from '@blockvault/core';
import { checkHealth } from '@blockvault/grpc-edge';
import type { BlockvaultConfig } from './config/load.ts';
import { DEFAULT_LISTEN, isTarget } from './targets.ts';

/** The address a probe in the same host dials for a listen address: a wildcard becomes loopback. */
export function loopbackOf(listen: string): string {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  return `${host === '0.0.0.0' || host === '' ? '127.0.0.1' : host}:${listen.slice(at + 1)}`;
}

/** Undefined when `target` here is serving and ready; else every reason it is not. */
export async function probe(target: string, config: BlockvaultConfig): Promise<string | undefined> {
  if (!isTarget(target)) throw new InvalidArgumentError(`unknown target ${JSON.stringify(target)}`);
  const { listen, metricsListen } = config.services;
  if ((target === 'worker' || target === 'access') && !metricsListen)
    throw new InvalidArgumentError(`the ${target} target is probed on its metrics port: set BLOCKVAULT_METRICS_LISTEN`);
  const checks: Promise<string | undefined>[] = [];
  if (target !== 'worker' && target !== 'access')
    checks.push(checkHealth(loopbackOf(listen ?? DEFAULT_LISTEN[target]), { tls: config.security.tls }));
  if (metricsListen) checks.push(readyz(loopbackOf(metricsListen)));
  const reasons = (await Promise.all(checks)).filter((r) => r !== undefined);
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

async function readyz(address: string): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${address}/readyz`, { signal: AbortSignal.timeout(3000) });
    return res.ok ? undefined : `${address}/readyz: ${res.status} ${(await res.text()).trim()}`;
  } catch (err) {
    return `${address}/readyz: ${(err as Error).message}`;
  }
}
