/**
 * A single-node Ceph cluster (one mon, one memstore OSD, a RADOS Gateway; no auth, loopback
 * only) in a fresh directory: RBD images and an S3 endpoint for the integration tests. The
 * configuration is the one measured in ../shared/reference/ceph-micro-cluster.md.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  daemon,
  freePort,
  installCeph,
  portAnswers,
  restartable,
  stopAll,
  waitFor,
  workDir,
  type Restartable,
  type Started,
} from './process.ts';

const run = promisify(execFile);

export interface S3Config {
  readonly endPoint: string;
  readonly port: number;
  readonly useSSL: boolean;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
}

export interface CephCluster extends Started {
  /** Set CEPH_CONF to this for `rbd` and `ceph` commands. */
  readonly conf: string;
  readonly env: NodeJS.ProcessEnv;
  readonly pool: string;
  readonly s3: S3Config;
}

export async function startCeph(): Promise<CephCluster> {
  installCeph();
  const dir = await workDir('blockvault-ceph-');
  const B = dir.path;
  for (const d of ['mon/a', 'osd/0', 'rgw', 'log', 'run']) await mkdir(join(B, d), { recursive: true });
  const [v2, v1, rgw, msBase] = [await freePort(), await freePort(), await freePort(), 20000 + Math.floor(Math.random() * 300) * 100];
  const fsid = randomUUID();
  const conf = join(B, 'ceph.conf');
  await writeFile(conf, cephConf(B, fsid, v2, v1, rgw, msBase));
  const env = { ...process.env, CEPH_CONF: conf };
  const ceph = (cmd: string, ...args: string[]) => run(cmd, args, { env, timeout: 60_000 });
  const children: ChildProcess[] = [];
  try {
    await ceph('monmaptool', '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]`, join(B, 'monmap'));
    await ceph('ceph-mon', '--mkfs', '-i', 'a', '--monmap', join(B, 'monmap'), '--keyring', '/dev/null');
    children.push(daemon('ceph-mon', B, 'ceph-mon', ['-i', 'a', '-f'], env));
    await waitFor('ceph-mon', async () => (await ceph('ceph', 'mon', 'stat', '--connect-timeout', '5'), true));
    const osdUuid = randomUUID();
    const id = (await ceph('ceph', 'osd', 'new', osdUuid)).stdout.trim();
    await ceph('ceph-osd', '-i', id, '--mkfs', '--osd-uuid', osdUuid);
    children.push(daemon('ceph-osd', B, 'ceph-osd', ['-i', id, '-f'], env));
    await waitFor('ceph-osd', async () =>
      (JSON.parse((await ceph('ceph', 'osd', 'dump', '--format', 'json')).stdout) as { osds: { up: number }[] }).osds.some(
        (o) => o.up === 1,
      ),
    );
    await ceph('ceph', 'osd', 'pool', 'create', 'rbd', '8', '8');
    await ceph('rbd', 'pool', 'init', 'rbd');
    children.push(daemon('radosgw', B, 'radosgw', ['-n', 'client.rgw.r', '-f'], env));
    await waitFor('radosgw', () => portAnswers(rgw), 90_000);
    const s3: S3Config = {
      endPoint: '127.0.0.1',
      port: rgw,
      useSSL: false,
      accessKey: `AK${randomBytes(8).toString('hex')}`,
      secretKey: randomBytes(20).toString('hex'),
      region: 'us-east-1',
    };
    await ceph(
      'radosgw-admin',
      'user',
      'create',
      '--uid',
      'ci',
      '--display-name',
      'CI',
      '--access-key',
      s3.accessKey,
      '--secret-key',
      s3.secretKey,
    );
    return {
      conf,
      env,
      pool: 'rbd',
      s3,
      dir: B,
      stop: async () => {
        await stopAll(children.reverse());
        await dir.remove();
      },
    };
  } catch (err) {
    await stopAll(children.reverse());
    throw new Error(`starting Ceph failed (logs in ${B}/log): ${(err as Error).message}`, { cause: err });
  }
}

/** A RADOS Gateway of its own, with its own S3 user, on a running cluster: one a test may crash and start again. */
export interface Gateway extends Started, Omit<Restartable, 'stop'> {
  readonly s3: S3Config;
}

/** Starts one more radosgw on the cluster that `cephConf` names, on a free port; its data stays in the cluster across restarts. */
export async function startGateway(cephConf: string): Promise<Gateway> {
  const dir = await workDir('blockvault-rgw-');
  const port = await freePort();
  const name = `client.rgw.g${port}`;
  const conf = join(dir.path, 'ceph.conf');
  await writeFile(
    conf,
    `${await readFile(cephConf, 'utf8')}
[${name}]
rgw frontends = beast endpoint=127.0.0.1:${port}
rgw dns name = localhost
rgw data = ${dir.path}/rgw
log file = ${dir.path}/radosgw.log
admin socket = ${dir.path}/radosgw.asok
pid file = ${dir.path}/radosgw.pid
`,
  );
  const env = { ...process.env, CEPH_CONF: conf };
  const answers = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/`)).status < 500;
  const server = await restartable('radosgw', dir.path, 'radosgw', ['-n', name, '-f'], () => waitFor('radosgw', answers, 90_000), env);
  const s3: S3Config = {
    endPoint: '127.0.0.1',
    port,
    useSSL: false,
    accessKey: `AK${randomBytes(8).toString('hex')}`,
    secretKey: randomBytes(20).toString('hex'),
    region: 'us-east-1',
  };
  const uid = `gw-${port}`;
  const args = ['user', 'create', '--uid', uid, '--display-name', uid, '--access-key', s3.accessKey, '--secret-key', s3.secretKey];
  await run('radosgw-admin', args, { env, timeout: 60_000 });
  return {
    s3,
    dir: dir.path,
    kill: () => server.kill(),
    restart: () => server.restart(),
    stop: async () => {
      await server.stop();
      await dir.remove();
    },
  };
}

function cephConf(B: string, fsid: string, v2: number, v1: number, rgw: number, msBase: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind port min = ${msBase}
ms bind port max = ${msBase + 99}
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = ${B}/run
pid file = ${B}/run/$name.pid
admin socket = ${B}/run/$name.asok
log file = ${B}/log/$name.log
mon cluster log file = ${B}/log/cluster.log
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
[mon.a]
mon data = ${B}/mon/a
[osd.0]
osd data = ${B}/osd/0
osd objectstore = memstore
memstore device bytes = 8589934592
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1
[client.rgw.r]
rgw frontends = beast endpoint=127.0.0.1:${rgw}
rgw dns name = localhost
rgw data = ${B}/rgw
`;
}
