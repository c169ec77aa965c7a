export { startCeph, type CephCluster, type S3Config } from './ceph.ts';
export { startFerretDb, type MongoServer } from './ferretdb.ts';
export { startNats, type NatsServer } from './nats.ts';
export { freePort, waitFor } from './process.ts';
export { useCeph, useMongo, useNats, useS3, type CephHandle, type MongoHandle, type NatsHandle, type S3Handle } from './use.ts';
