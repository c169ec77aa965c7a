/**
 * TLS material for tests: a cluster CA, one leaf certificate for 127.0.0.1/localhost that serves
 * and authenticates clients (mutual TLS), and a rogue leaf signed by another CA. Keys are written
 * with mode 600, as the services require.
 */
import { writeFile } from 'node:fs/promises';
import { generate } from 'selfsigned';
import type { TempDir } from './data.ts';

export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Signed by a CA the cluster does not trust. */
  readonly rogueCert: string;
  readonly rogueKey: string;
}

async function authority(name: string): Promise<{ key: string; cert: string }> {
  const ca = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  return { key: ca.private, cert: ca.cert };
}

async function leaf(ca: { key: string; cert: string }): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export async function tlsFixture(dir: TempDir): Promise<TlsFiles> {
  const ca = await authority('blockvault test cluster CA');
  const node = await leaf(ca);
  const rogue = await leaf(await authority('someone else'));
  const files = {
    ca: dir.file('ca.pem'),
    cert: dir.file('node.pem'),
    key: dir.file('node.key'),
    rogueCert: dir.file('rogue.pem'),
    rogueKey: dir.file('rogue.key'),
  };
  await writeFile(files.ca, ca.cert);
  await writeFile(files.cert, node.cert);
  await writeFile(files.key, node.key, { mode: 0o600 });
  await writeFile(files.rogueCert, rogue.cert);
  await writeFile(files.rogueKey, rogue.key, { mode: 0o600 });
  return files;
}
