/**
 * Real servers for a test file: the ones named by environment variables (started once for the
 * whole run by infra/local/with-servers.ts, or a user's own MongoDB / MinIO), else started here.
 */
import { startCeph, startGateway, type CephCluster, type Gateway, type S3Config } from './ceph.ts';
import { startFerretDb } from './ferretdb.ts';
import { startNats } from './nats.ts';

export interface S3Handle {
  readonly config: S3Config;
  stop(): Promise<void>;
}

export async function useS3(): Promise<S3Handle> {
  const env = process.env;
  if (env['BLOCKVAULT_S3_ENDPOINT']) {
    return {
      config: {
        endPoint: env['BLOCKVAULT_S3_ENDPOINT'],
        port: Number(env['BLOCKVAULT_S3_PORT'] ?? 443),
        useSSL: env['BLOCKVAULT_S3_USE_SSL'] !== 'false',
        accessKey: env['BLOCKVAULT_S3_ACCESS_KEY'] ?? '',
        secretKey: env['BLOCKVAULT_S3_SECRET_KEY'] ?? '',
        region: env['BLOCKVAULT_S3_REGION'] ?? 'us-east-1',
      },
      stop: async () => undefined,
    };
  }
  const ceph = await startCeph();
  return { config: ceph.s3, stop: () => ceph.stop() };
}

export interface MongoHandle {
  readonly url: string;
  stop(): Promise<void>;
}

export async function useMongo(): Promise<MongoHandle> {
  if (process.env['BLOCKVAULT_MONGO_URL']) return { url: process.env['BLOCKVAULT_MONGO_URL'], stop: async () => undefined };
  const server = await startFerretDb();
  return { url: server.url, stop: () => server.stop() };
}

export interface CephHandle {
  /** Environment for `rbd` commands (CEPH_CONF). */
  readonly env: NodeJS.ProcessEnv;
  readonly pool: string;
  stop(): Promise<void>;
}

export async function useCeph(): Promise<CephHandle> {
  if (process.env['BLOCKVAULT_CEPH_CONF']) {
    return {
      env: { ...process.env, CEPH_CONF: process.env['BLOCKVAULT_CEPH_CONF'] },
      pool: process.env['BLOCKVAULT_RBD_POOL'] ?? 'rbd',
      stop: async () => undefined,
    };
  }
  const ceph: CephCluster = await startCeph();
  return { env: ceph.env, pool: ceph.pool, stop: () => ceph.stop() };
}

/** A RADOS Gateway of the test's own (see `startGateway`), on the run's cluster or on one started here. */
export async function useGateway(): Promise<Gateway> {
  const conf = process.env['BLOCKVAULT_CEPH_CONF'];
  if (conf) return startGateway(conf);
  const ceph = await startCeph();
  const gateway = await startGateway(ceph.conf);
  return {
    ...gateway,
    stop: async () => {
      await gateway.stop();
      await ceph.stop();
    },
  };
}

export interface NatsHandle {
  readonly url: string;
  stop(): Promise<void>;
}

export async function useNats(): Promise<NatsHandle> {
  if (process.env['BLOCKVAULT_NATS_URL']) return { url: process.env['BLOCKVAULT_NATS_URL'], stop: async () => undefined };
  const server = await startNats();
  return { url: server.url, stop: () => server.stop() };
}
