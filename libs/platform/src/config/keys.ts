/** Master keys for blob encryption: reading a key file and adding a key to one. */
import { existsSync, readFileSync } from 'node:fs';
import { EncryptionKeyError, InvalidArgumentError, type MasterKey } from '@blockvault/core';
import { readSecret } from './security.ts';

export interface TransformSettings {
  /** zstd level; undefined: no compression. */
  readonly compressionLevel?: number;
  /** Master keys (the first wraps new data keys); undefined: no encryption. */
  readonly masterKeys?: readonly MasterKey[];
  /** Where the master keys came from, for messages (never the keys). */
  readonly keySource?: string;
}

const KEY_LINE = /^([A-Za-z0-9_.-]{1,64})\s+([A-Za-z0-9+/=_-]+)$/;

/**
 * Reads a master key file: one `ID KEY` per line (KEY: 32 bytes in base64 or 64 hex digits),
 * blank lines and `#` comments ignored; the first key wraps new data keys, the others only
 * unwrap (rotation). Refused when group or others may read it. Errors never show key bytes.
 */
export function readKeyFile(path: string): MasterKey[] {
  const keys: MasterKey[] = [];
  // A missing key file is a missing key (exit 8, as a wrong key is), not a usage error.
  if (!existsSync(path)) {
    throw new EncryptionKeyError(
      `BLOCKVAULT_ENCRYPTION_KEY_FILE ${path} does not exist: the master keys are missing; restore the key file (encrypted blobs cannot be read or written without it)`,
    );
  }
  for (const [i, raw] of readSecret('BLOCKVAULT_ENCRYPTION_KEY_FILE', path).split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = KEY_LINE.exec(line);
    const key = m ? (/^[0-9a-fA-F]{64}$/.test(m[2]!) ? Buffer.from(m[2]!, 'hex') : Buffer.from(m[2]!, 'base64')) : undefined;
    if (!m || key?.length !== 32)
      throw new InvalidArgumentError(`key file ${path} line ${i + 1}: expected \`ID KEY\` with a 32-byte key in base64 or hex`);
    keys.push({ id: m[1]!, key });
  }
  if (keys.length === 0) throw new InvalidArgumentError(`key file ${path} holds no key`);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new InvalidArgumentError(`key file ${path}: key ids must be distinct`);
  return keys;
}

/**
 * Puts a new random 32-byte master key first in a key file, creating the file with mode 600.
 * Returns the key ids now in it (the key itself is never shown).
 */
export async function addMasterKey(path: string, id: string): Promise<string[]> {
  const { randomBytes } = await import('node:crypto');
  const { writeFile, rename } = await import('node:fs/promises');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidArgumentError(`key id ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ . -`);
  let existing: MasterKey[] = [];
  let text = '';
  if (existsSync(path)) {
    existing = readKeyFile(path);
    text = readFileSync(path, 'utf8');
  }
  if (existing.some((k) => k.id === id)) throw new InvalidArgumentError(`key file ${path} already has a key ${id}`);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${id} ${randomBytes(32).toString('base64')}\n${text}`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
  return [id, ...existing.map((k) => k.id)];
}
