/**
 * Runs a command with real servers up: FerretDB, nats-server (JetStream) and a single-node Ceph
 * (RBD + RADOS Gateway), each installed if missing (infra/local/install.sh) and started on free
 * loopback ports in fresh directories. The command gets their addresses in BLOCKVAULT_MONGO_URL,
 * BLOCKVAULT_NATS_URL, BLOCKVAULT_S3_* and BLOCKVAULT_CEPH_CONF; afterwards exactly these servers
 * are stopped, and the command's exit code is returned.
 *
 *   node infra/local/with-servers.ts [--no-ceph] -- COMMAND [ARGS...]
 */
import { spawn } from 'node:child_process';
import { startCeph, startFerretDb, startNats } from '@blockvault/testing';

const sep = process.argv.indexOf('--');
const flags = process.argv.slice(2, sep === -1 ? undefined : sep);
const command = sep === -1 ? [] : process.argv.slice(sep + 1);
if (command.length === 0) {
  console.error('usage: node infra/local/with-servers.ts [--no-ceph] -- COMMAND [ARGS...]');
  process.exit(2);
}

const started = performance.now();
const [mongo, nats, ceph] = await Promise.all([startFerretDb(), startNats(), flags.includes('--no-ceph') ? undefined : startCeph()]);
console.error(
  `with-servers: FerretDB ${mongo.url}, NATS ${nats.url}${ceph ? `, Ceph (S3 on :${ceph.s3.port})` : ''} up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  BLOCKVAULT_MONGO_URL: mongo.url,
  BLOCKVAULT_NATS_URL: nats.url,
  ...(ceph
    ? {
        BLOCKVAULT_CEPH_CONF: ceph.conf,
        BLOCKVAULT_RBD_POOL: ceph.pool,
        BLOCKVAULT_S3_ENDPOINT: ceph.s3.endPoint,
        BLOCKVAULT_S3_PORT: String(ceph.s3.port),
        BLOCKVAULT_S3_USE_SSL: 'false',
        BLOCKVAULT_S3_ACCESS_KEY: ceph.s3.accessKey,
        BLOCKVAULT_S3_SECRET_KEY: ceph.s3.secretKey,
        BLOCKVAULT_S3_REGION: ceph.s3.region,
      }
    : {}),
};

let code = 1;
try {
  code = await new Promise<number>((done) => {
    const child = spawn(command[0] as string, command.slice(1), { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('exit', (c, signal) => done(c ?? (signal ? 128 : 1)));
  });
} finally {
  await Promise.all([mongo.stop(), nats.stop(), ceph?.stop()]);
}
process.exit(code);
