export { startCeph, startGateway, type CephCluster, type Gateway, type S3Config } from './ceph.ts';
export { startFerretDb, type MongoServer } from './ferretdb.ts';
export { startNats, type NatsServer } from './nats.ts';
export { freePort, installChromium, installHelm, installQemu, installShells, waitFor, type Restartable } from './process.ts';
export { startToxiproxy, type ToxiproxyServer } from './toxiproxy.ts';
export { useCeph, useGateway, useMongo, useNats, useS3, type CephHandle, type MongoHandle, type NatsHandle, type S3Handle } from './use.ts';
