/**
 * Instant access with real clients: `blockvault nbd` serving versions of an embedded repository
 * to qemu-img, qemu-io and nbdinfo (Debian's qemu-utils and libnbd-bin, installed by
 * infra/local/install.sh), and its HTTP range endpoint behind a token.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BLOCKVAULT_BIN, buildImage, cli, installQemu, json, overwrite, tempDir, tlsFixture, type TempDir } from '@blockvault/testing';

const run = promisify(execFile);
const MIB = 1024 * 1024;
/** 1 MiB blocks, 4 to a segment; the image ends 1536 bytes into a block (a multiple of 512, as qemu sizes are). */
const BS = MIB;
const TAIL = 1536;
const SPECS = ['r', 'r', 'z', 'r', 'z', 0, 'r', 'r', 'z', 'z', 'r'] as const;

let dir: TempDir;
let img1: Buffer;
let img2: Buffer;
let uid1: string;
let uid2: string;
const servers: ChildProcess[] = [];
const TOKEN_ENV: NodeJS.ProcessEnv = {};
let readToken: string;

const home = (): string => dir.file('home');
const bv = (...args: string[]): ReturnType<typeof cli> => cli(['--home', home(), ...args], undefined, TOKEN_ENV);

/** `blockvault nbd` with `args`; resolves with the addresses it prints once it serves. */
async function serveNbd(...args: string[]): Promise<{ nbd: string; http: string | null }> {
  return serveNbdWith({}, ...args);
}

async function serveNbdWith(extraEnv: NodeJS.ProcessEnv, ...args: string[]): Promise<{ nbd: string; http: string | null }> {
  const child = spawn(process.execPath, [BLOCKVAULT_BIN, '--home', home(), '--json', 'nbd', '--listen', '127.0.0.1:0', ...args], {
    // The embedded repository in --home: none of the stores the test servers configure.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLOCKVAULT_'))), ...TOKEN_ENV, ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  return new Promise((done, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) done(JSON.parse(out) as { nbd: string; http: string | null });
    });
    child.once('exit', (code) => fail(new Error(`blockvault nbd exited with ${code}`)));
  });
}

/** Bytes qemu-io prints for `read -v OFFSET LENGTH`. */
async function qemuRead(url: string, offset: number, length: number): Promise<Buffer> {
  const { stdout } = await run('qemu-io', ['-r', '-f', 'raw', '-c', `read -v ${offset} ${length}`, url], { maxBuffer: 64 * MIB });
  const bytes: number[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)/.exec(line);
    if (m) for (const h of (m[1] as string).trim().split(' ')) bytes.push(parseInt(h, 16));
  }
  return Buffer.from(bytes);
}

before(async () => {
  installQemu();
  dir = await tempDir();
  const token = json<{ token: string; line: string }>(await cli(['--json', 'token', 'new', 'viewer', '--permissions', 'read']));
  readToken = token.token;
  await writeFile(dir.file('tokens'), `${token.line}\n`);
  await chmod(dir.file('tokens'), 0o644);
  TOKEN_ENV['BLOCKVAULT_TOKENS_FILE'] = dir.file('tokens');
  assert.equal((await bv('init', '--block-size', String(BS), '--blocks-per-segment', '4')).code, 0);
  img1 = buildImage([...SPECS], BS, TAIL);
  await writeFile(dir.file('a.img'), img1);
  uid1 = json<{ version: { uid: string } }>(await bv('--json', 'backup', dir.url('a.img'), 'vm1')).version.uid;
  // The next version: two blocks changed, one of them across a segment boundary.
  img2 = Buffer.from(img1);
  img2.fill(0x5a, 4 * MIB - 100, 4 * MIB + 100);
  await writeFile(dir.file('b.img'), img2);
  uid2 = json<{ version: { uid: string } }>(await bv('--json', 'backup', dir.url('b.img'), 'vm1')).version.uid;
});

after(async () => {
  for (const s of servers) {
    if (s.exitCode === null) {
      s.kill('SIGTERM');
      await new Promise((r) => s.once('exit', r));
    }
  }
  await dir?.remove();
});

describe('blockvault nbd with real clients', () => {
  it('qemu-img compares a full and an incremental version identical to their images, both at once; info shows the exact size; nbdinfo lists them', async () => {
    const { nbd } = await serveNbd();
    const [c1, c2] = await Promise.all([
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `nbd://${nbd}/${uid1}`, dir.file('a.img')]),
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', `nbd://${nbd}/${uid2}`, dir.file('b.img')]),
    ]);
    assert.match(c1.stdout, /Images are identical/);
    assert.match(c2.stdout, /Images are identical/);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', `nbd://${nbd}/${uid1}`])).stdout) as {
      'virtual-size': number;
    };
    assert.equal(info['virtual-size'], img1.length);
    const list = (await run('nbdinfo', ['--list', `nbd://${nbd}`])).stdout;
    assert.match(list, new RegExp(`export="${uid1}":\\s+description: vm1 `));
    assert.match(list, new RegExp(`export="${uid2}":`));
    assert.match(list, /is_read_only: true/);
  });

  it('qemu-io reads at unaligned offsets and lengths, across block and segment boundaries and over sparse blocks', async () => {
    const { nbd } = await serveNbd();
    for (const [offset, length] of [
      [1, 7],
      [MIB - 100, 300],
      [2 * MIB + 12345, 1000],
      [4 * MIB - 7, 20],
      [3 * MIB - 1, 2 * MIB + 3],
      [img2.length - 13, 13],
    ] as const) {
      assert.deepEqual(
        await qemuRead(`nbd://${nbd}/${uid2}`, offset, length),
        img2.subarray(offset, offset + length),
        `${length} at ${offset}`,
      );
    }
  });

  it('with --writable, qemu-io writes and reads its writes back; a new connection and a deep-scrub find the version unchanged', async () => {
    const { nbd } = await serveNbd('--writable');
    const url = `nbd://${nbd}/${uid1}`;
    const { stdout } = await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      `write -P 0xab ${MIB - 10} 5000`,
      '-c',
      `read -P 0xab ${MIB - 10} 5000`,
      '-c',
      `write -z ${6 * MIB} 4096`,
      '-c',
      `read -P 0 ${6 * MIB} 4096`,
      url,
    ]);
    assert.doesNotMatch(stdout, /Pattern verification failed|failed/);
    assert.equal((stdout.match(/^read \d+\/\d+ bytes/gm) ?? []).length, 2, stdout);
    const after = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', url, dir.file('a.img')]);
    assert.match(after.stdout, /Images are identical/);
    assert.equal((await bv('deep-scrub', uid1)).code, 0);
  });

  it('with BLOCKVAULT_TLS_*, serves over NBD STARTTLS: qemu-img reads the version through TLS with a client certificate; a client without TLS gets nothing', async () => {
    const tls = await tlsFixture(dir);
    const { nbd } = await serveNbdWith({
      BLOCKVAULT_TLS_CA: tls.ca,
      BLOCKVAULT_TLS_CERT: tls.cert,
      BLOCKVAULT_TLS_KEY: tls.key,
      BLOCKVAULT_TLS_CLIENT_AUTH: 'require',
    });
    const [host, port] = nbd.split(':') as [string, string];
    // qemu's x509 credentials: a directory with ca-cert.pem, client-cert.pem and client-key.pem.
    const creds = dir.file('qemu-tls');
    await mkdir(creds, { recursive: true });
    await copyFile(tls.ca, join(creds, 'ca-cert.pem'));
    await copyFile(tls.cert, join(creds, 'client-cert.pem'));
    await copyFile(tls.key, join(creds, 'client-key.pem'));
    const out = dir.file('tls-out.img');
    await run('qemu-img', [
      'convert',
      '--object',
      `tls-creds-x509,id=tls0,dir=${creds},endpoint=client`,
      '--image-opts',
      `driver=nbd,host=${host},port=${port},export=${uid1},tls-creds=tls0`,
      '-O',
      'raw',
      out,
    ]);
    assert.deepEqual(await readFile(out), img1);
    // Without TLS: refused before any export name or byte is given out.
    const plain = await run('qemu-img', ['info', `nbd://${nbd}/${uid1}`]).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    );
    assert.match(plain ?? 'it answered without TLS', /TLS/i);
    // A client certificate from another CA: the handshake fails.
    const rogue = dir.file('qemu-rogue');
    await mkdir(rogue, { recursive: true });
    await copyFile(tls.ca, join(rogue, 'ca-cert.pem'));
    await copyFile(tls.rogueCert, join(rogue, 'client-cert.pem'));
    await copyFile(tls.rogueKey, join(rogue, 'client-key.pem'));
    await assert.rejects(
      run('qemu-img', [
        'info',
        '--object',
        `tls-creds-x509,id=tls0,dir=${rogue},endpoint=client`,
        '--image-opts',
        `driver=nbd,host=${host},port=${port},export=${uid1},tls-creds=tls0`,
      ]),
    );
  });

  it('serves byte ranges over HTTP to a token with read, and refuses a request without one', async () => {
    const { http } = await serveNbd('--http-listen', '127.0.0.1:0');
    const url = `http://${http}/v1/versions/${uid2}/raw`;
    assert.equal((await fetch(url)).status, 401);
    const r = await fetch(url, { headers: { authorization: `Bearer ${readToken}`, range: `bytes=${4 * MIB - 50}-${4 * MIB + 49}` } });
    assert.equal(r.status, 206);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), img2.subarray(4 * MIB - 50, 4 * MIB + 50));
  });

  it('a damaged blob fails reads of its range with EIO and is marked invalid; the rest of the export reads', async () => {
    const { nbd } = await serveNbd();
    const shown = json<{ blocks: { id: number; uid: string | null }[] }>(await bv('--json', 'show', uid2, '--blocks'));
    const victim = shown.blocks.find((b) => b.id === 7)!;
    await overwrite(`${home()}/blobs/${victim.uid!.slice(0, 2)}/${victim.uid!.slice(2, 4)}/${victim.uid}`, 100, Buffer.from('rot'));
    const url = `nbd://${nbd}/${uid2}`;
    await assert.rejects(
      run('qemu-io', ['-r', '-f', 'raw', '-c', `read ${7 * MIB} 4096`, url]),
      (err: { stdout?: string; stderr?: string }) => {
        assert.match(`${err.stdout}${err.stderr}`, /Input\/output error/);
        return true;
      },
    );
    assert.deepEqual(await qemuRead(url, 6 * MIB, 64), img2.subarray(6 * MIB, 6 * MIB + 64), 'a sound block still reads');
    const after = json<{ valid: boolean }>(await bv('--json', 'show', uid2, '--blocks'));
    assert.equal(after.valid, false, 'the version that uses the damaged blob is marked invalid');
  });
});
