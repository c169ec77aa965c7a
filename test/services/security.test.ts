/**
 * The services with transport security, as separate processes on a real nats-server: mutual
 * TLS on every channel, tokens with permissions on the job API, the cluster token on the
 * internal services. Refusals get UNAUTHENTICATED / PERMISSION_DENIED (CLI exit 8), are logged,
 * and no secret ever appears in output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, clientOptions } from '@blockvault/grpc-edge';
import { BlobStoreServiceClient } from '@blockvault/proto';
import {
  BLOCKVAULT_BIN,
  buildImage,
  cli,
  json,
  startNats,
  tempDir,
  tlsFixture,
  type NatsServer,
  type TempDir,
  type TlsFiles,
} from '@blockvault/testing';

let nats: NatsServer;
let dir: TempDir;
let tls: TlsFiles;
const children: { child: ChildProcess; stderr: string[] }[] = [];
const tokens: Record<'reader' | 'operator' | 'admin', string> = { reader: '', operator: '', admin: '' };
let cluster = '';
let apiPort = 0;
let blobPort = 0;
const serviceUrls: Record<string, string> = {};

function baseEnv(): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_')));
  return {
    ...clean,
    BLOCKVAULT_TLS_CA: tls.ca,
    BLOCKVAULT_TLS_CERT: tls.cert,
    BLOCKVAULT_TLS_KEY: tls.key,
    BLOCKVAULT_TLS_CLIENT_AUTH: 'require',
    BLOCKVAULT_CLUSTER_TOKEN_FILE: dir.file('cluster.token'),
  };
}

let schedulerMetricsPort = 0;

function startService(target: string): Promise<number | null> {
  const env = { ...baseEnv(), ...serviceUrls, BLOCKVAULT_TOKENS_FILE: dir.file('tokens'), BLOCKVAULT_METRICS_LISTEN: '127.0.0.1:0' };
  const child = spawn(
    process.execPath,
    [BLOCKVAULT_BIN, '--json', '--home', dir.file('home'), 'serve', '--target', target, '--listen', '127.0.0.1:0', '--nats', nats.url],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  children.push({ child, stderr });
  return new Promise((done, fail) => {
    child.stdout?.once('data', (d: Buffer) => {
      const info = JSON.parse(d.toString()) as { port: number | null; metricsPort: number };
      if (target === 'scheduler') schedulerMetricsPort = info.metricsPort;
      done(info.port);
    });
    child.once('exit', (code) => fail(new Error(`serve --target ${target} exited with ${code}: ${stderr.join('')}`)));
  });
}

/** The CLI as a user of the job API: TLS (the CA; a client certificate for mutual TLS) and a token. */
async function asUser(who: keyof typeof tokens | 'nobody', args: string[]) {
  const env: NodeJS.ProcessEnv = { BLOCKVAULT_TLS_CA: tls.ca, BLOCKVAULT_TLS_CERT: tls.cert, BLOCKVAULT_TLS_KEY: tls.key };
  if (who !== 'nobody') {
    await writeFile(dir.file(`${who}.token`), tokens[who], { mode: 0o600 });
    env['BLOCKVAULT_TOKEN_FILE'] = dir.file(`${who}.token`);
  }
  return cli(['--server', `127.0.0.1:${apiPort}`, '--json', ...args], undefined, env);
}

before(async () => {
  nats = await startNats();
  dir = await tempDir();
  tls = await tlsFixture(dir);
  const lines: string[] = [];
  for (const [who, perms] of [
    ['reader', 'read'],
    ['operator', 'submit'],
    ['admin', 'admin'],
  ] as const) {
    const made = json<{ token: string; line: string }>(await cli(['--json', 'token', 'new', who, '--permissions', perms]));
    tokens[who] = made.token;
    lines.push(made.line);
  }
  await writeFile(dir.file('tokens'), `${lines.join('\n')}\n`);
  cluster = json<{ token: string }>(await cli(['--json', 'token', 'new', 'cluster'])).token;
  await writeFile(dir.file('cluster.token'), cluster, { mode: 0o600 });
  assert.equal((await cli(['--home', dir.file('home'), 'init', '--block-size', String(64 * 1024)])).code, 0);
  serviceUrls['BLOCKVAULT_METADATA_URL'] = `127.0.0.1:${await startService('metadata')}`;
  blobPort = (await startService('blob-store')) as number;
  serviceUrls['BLOCKVAULT_BLOBSTORE_URL'] = `127.0.0.1:${blobPort}`;
  serviceUrls['BLOCKVAULT_READER_URL'] = `127.0.0.1:${await startService('reader')}`;
  apiPort = (await startService('scheduler')) as number;
  await startService('worker');
  await writeFile(dir.file('a.img'), buildImage(['r', 'z', 'r', 0], 64 * 1024));
});

after(async () => {
  for (const { child } of [...children].reverse()) {
    if (child.exitCode === null) await new Promise((done) => (child.once('exit', done), child.kill('SIGTERM')));
  }
  await nats?.stop();
  await dir?.remove();
});

describe('transport security', () => {
  it('a token with submit backs up and restores over mutual TLS, through internal services that require the cluster token', async () => {
    const backup = await asUser('operator', ['backup', dir.url('a.img'), 'vm1']);
    assert.equal(backup.code, 0, backup.stderr);
    const uid = json<{ version: { uid: string } }>(backup).version.uid;
    const restore = await asUser('operator', ['restore', uid, dir.url('out.img')]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await readFile(dir.file('out.img')), await readFile(dir.file('a.img')));
  });

  it('refuses callers without a token (UNAUTHENTICATED) and tokens without the permission (PERMISSION_DENIED), and logs it', async () => {
    const anonymous = await asUser('nobody', ['ls']);
    assert.equal(anonymous.code, 8, anonymous.stderr);
    assert.match(anonymous.stderr, /no bearer token/);
    const readOnly = await asUser('reader', ['ls']);
    assert.equal(readOnly.code, 0, readOnly.stderr);
    const denied = await asUser('reader', ['backup', dir.url('a.img'), 'vm1']);
    assert.equal(denied.code, 8);
    assert.match(denied.stderr, /lacks the submit permission/);
    const cleanupByOperator = await asUser('operator', ['cleanup', '--dry-run']);
    assert.equal(cleanupByOperator.code, 8);
    assert.match(cleanupByOperator.stderr, /admin permission/);
    const cleanupByAdmin = await asUser('admin', ['cleanup', '--dry-run']);
    assert.equal(cleanupByAdmin.code, 0, cleanupByAdmin.stderr);
    const logged = children[3]!.stderr
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; module?: string; method?: string; reason?: string; peer?: string });
    assert.ok(
      logged.some(
        (l) =>
          l.msg === 'call refused' &&
          l.module === 'auth' &&
          l.method === 'SubmitJob' &&
          l.reason === 'token reader lacks the submit permission' &&
          l.peer,
      ),
      'the scheduler logged the refusal with method, peer and reason',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${schedulerMetricsPort}/metrics`)).text();
    assert.ok(Number(/^blockvault_errors_total\{code="PERMISSION_DENIED"\} (\d+)/m.exec(metrics)?.[1]) >= 2, 'refusals are counted');
    assert.ok(Number(/^blockvault_errors_total\{code="UNAUTHENTICATED"\} (\d+)/m.exec(metrics)?.[1]) >= 1);
  });

  it('refuses plaintext and certificates from another CA; an internal service refuses a caller without the cluster token', async () => {
    const plaintext = await cli(['--server', `127.0.0.1:${apiPort}`, 'ls']);
    assert.equal(plaintext.code, 6, 'no TLS: the handshake never completes');
    const rogue = await cli(['--server', `127.0.0.1:${apiPort}`, 'ls'], undefined, {
      BLOCKVAULT_TLS_CA: tls.ca,
      BLOCKVAULT_TLS_CERT: tls.rogueCert,
      BLOCKVAULT_TLS_KEY: tls.rogueKey,
    });
    assert.equal(rogue.code, 6, 'a client certificate from another CA is refused');
    const tlsOnly = { tls: { ca: await readFile(tls.ca), cert: await readFile(tls.cert), key: await readFile(tls.key) } };
    for (const [security, expected] of [
      [tlsOnly, grpc.status.UNAUTHENTICATED],
      [{ ...tlsOnly, token: 'bvt_guess' }, grpc.status.UNAUTHENTICATED],
      [{ ...tlsOnly, token: cluster }, grpc.status.OK],
    ] as const) {
      const client = new BlobStoreServiceClient(`127.0.0.1:${blobPort}`, channelCredentials(security.tls), clientOptions(security));
      const code = await new Promise<grpc.status>((done) =>
        client.stat({ key: '0123456789abcdef' }, (err) => done(err ? err.code : grpc.status.OK)),
      );
      client.close();
      assert.equal(code, expected);
    }
  });

  it('never shows a token or key in any output', async () => {
    const everything = children.map((c) => c.stderr.join('')).join('\n');
    for (const secret of [...Object.values(tokens), cluster, (await readFile(tls.key, 'utf8')).split('\n')[1]!])
      assert.ok(!everything.includes(secret));
  });
});
