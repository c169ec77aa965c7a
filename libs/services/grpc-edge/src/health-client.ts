/**
 * The client side of the standard gRPC health checking protocol, for probes that cannot speak
 * gRPC themselves (a container's HEALTHCHECK, a kubelet when TLS is on).
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { readable } from './index.ts';
import { channelCredentials, type TlsSettings } from './security.ts';

const HealthClient = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');

interface HealthStub extends grpc.Client {
  check(
    req: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

/**
 * Asks `address` (host:port) for the serving status of `service` ('' for the whole server).
 * Resolves undefined when it is SERVING, else why not. With TLS the certificate chain is checked
 * against the CA but not the host name: the probe dials loopback, which no certificate names.
 */
export function checkHealth(
  address: string,
  options: { tls?: TlsSettings; service?: string; deadlineMs?: number } = {},
): Promise<string | undefined> {
  const credentials = options.tls
    ? grpc.credentials.createSsl(options.tls.ca, options.tls.key ?? null, options.tls.cert ?? null, {
        checkServerIdentity: () => undefined,
      })
    : channelCredentials(undefined);
  const client = new HealthClient(address, credentials) as unknown as HealthStub;
  return new Promise((done) => {
    client.check({ service: options.service ?? '' }, { deadline: Date.now() + (options.deadlineMs ?? 3000) }, (err, res) => {
      client.close();
      if (err) done(`${address}: ${readable(err.details || err.message)}`);
      else if (res?.status === 'SERVING') done(undefined);
      else done(`${address}: ${res?.status ?? 'no status'}`);
    });
  });
}
