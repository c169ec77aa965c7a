/**
 * Blob transforms: what a block's bytes become in the blob store, recorded per blob in its
 * header (blob-format.ts), so blobs written with any setting stay readable under any other.
 *
 * - zstd (flag bit 0): the payload is the block compressed with zstd (`node:zlib`), kept only
 *   when it is smaller than the block. A block whose samples do not compress (random or already
 *   compressed data) is stored as it is without compressing the whole of it (`worthCompressing`).
 * - AES-256-GCM (flag bit 1): the payload is encrypted with a key derived for this blob alone
 *   (HKDF-SHA256 over a data key and a random 16-byte salt) and a random 12-byte IV; the header
 *   (with the data key's id, salt and IV) and the blob's uid are authenticated with it. Data
 *   keys are kept wrapped by a master key in the blob store (`keys/<id>`, see Keyring), so
 *   `rekey` re-wraps them under a new master key without touching a single blob.
 *
 * Checksums are over the plaintext block, so deduplication is unaffected. A blob that fails
 * authentication or decompression is damage (IntegrityError); a missing or wrong key is not
 * (EncryptionKeyError): nothing is marked invalid for want of a key.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { constants as zlibConstants, zstdCompress, zstdCompressSync, zstdDecompress } from 'node:zlib';
import { AuthenticationError, IntegrityError, InvalidArgumentError, NotFoundError } from './errors.ts';
import { BLOB_FORMAT_VERSION, BLOB_HEADER_LENGTH, BLOB_MAGIC, encodeBlobHeader } from './blob-format.ts';
import { releaseBuffer } from './buffers.ts';
import { systemClock, type BlobStore, type Clock } from './ports.ts';

const compress = promisify(zstdCompress);
const decompress = promisify(zstdDecompress);

/** zstd's output buffers grow by this much per round trip through the threadpool; above the largest block plus its bound. */
const ZSTD_MARGIN = 64 * 1024;
/** Samples of a block compressed first: this many, each this long, spread evenly across it. */
const SAMPLES = 4;
const SAMPLE_LENGTH = 16 * 1024;
/** Compressed samples at least this share of their length: the whole block is not worth compressing. */
const INCOMPRESSIBLE = 0.9;

/**
 * Whether a block is worth compressing whole, judged from a few samples compressed at once on
 * this thread (about 0.05 ms for 64 KiB); a wrong guess costs only ratio, never correctness.
 */
export function worthCompressing(data: Buffer, level: number): boolean {
  if (data.length <= SAMPLES * SAMPLE_LENGTH * 2) return true;
  const step = Math.floor((data.length - SAMPLE_LENGTH) / (SAMPLES - 1));
  const samples = Buffer.allocUnsafe(SAMPLES * SAMPLE_LENGTH);
  for (let i = 0; i < SAMPLES; i++) data.copy(samples, i * SAMPLE_LENGTH, i * step, i * step + SAMPLE_LENGTH);
  const packed = zstdCompressSync(samples, { params: { [zlibConstants.ZSTD_c_compressionLevel]: level } });
  return packed.length < samples.length * INCOMPRESSIBLE;
}

export const TRANSFORM_ZSTD = 0b01;
export const TRANSFORM_AES_GCM = 0b10;
const KNOWN_TRANSFORMS = TRANSFORM_ZSTD | TRANSFORM_AES_GCM;

/** The encryption fields after the base header: data key id (8), salt (16), IV (12), tag (16). */
const DEK_ID_LENGTH = 8;
const SALT_LENGTH = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
export const ENCRYPTED_HEADER_LENGTH = BLOB_HEADER_LENGTH + DEK_ID_LENGTH + SALT_LENGTH + IV_LENGTH + TAG_LENGTH;

/** Where data keys live in the blob store. */
export const KEYS_PREFIX = 'keys/';

/** A key the repository needs is not configured, or does not match (never damage). */
export class EncryptionKeyError extends AuthenticationError {}

/** How blobs are encoded and decoded. */
export interface BlobCodec {
  /** The stored form of a block's bytes, as chunks to write. */
  encode(uid: string, data: Buffer): Promise<Uint8Array[]>;
  /**
   * The block's bytes from a stored blob.
   * @throws IntegrityError when the blob is not sound (bad header, failed authentication, bad zstd frame)
   * @throws EncryptionKeyError when the key it needs is missing or wrong
   */
  decode(uid: string, stored: Buffer): Promise<Buffer>;
  /**
   * Checks a stored blob's header against its length without decoding it (a shallow scrub's
   * check of a transformed blob, which no size predicts).
   * @throws IntegrityError when the header is foreign or unsupported or the blob is truncated
   */
  checkFraming(uid: string, stored: Buffer): void;
  /** Whether new blobs are transformed (their stored size then says nothing about the block's). */
  readonly transforms: boolean;
  /** The data keys, when encryption is configured. */
  readonly keyring: Keyring | undefined;
  /**
   * How new blobs are encoded, for a reader that stores them where the data is
   * (`codecFromSpec`): the zstd level and the current data key, never a master key.
   */
  encoding(): Promise<TransformSpec>;
  /** What a reader needs to decode any blob of the repository (`codecFromSpec`): every data key, never a master key. */
  decoding(): Promise<TransformSpec>;
}

/** What a reader needs to encode new blobs for one job: sent over the authenticated channel, never logged or stored. */
export interface TransformSpec {
  /** zstd level; undefined: no compression. */
  readonly compressionLevel?: number;
  /** The data key new blobs are encrypted with (already unwrapped); undefined: no encryption. */
  readonly dataKey?: { readonly id: Buffer; readonly key: Buffer };
  /** Further data keys that blobs to decode may use (a restore's). */
  readonly dataKeys?: readonly { readonly id: Buffer; readonly key: Buffer }[];
}

/** Data keys by id, and the one new blobs use: a Keyring, or one key a worker handed over (TransformSpec). */
export interface DataKeys {
  current(): Promise<{ id: Buffer; key: Buffer }>;
  dataKey(id: string): Promise<Buffer>;
}

/** A codec for a reader working for a worker: it encodes as `spec` says and decodes with the data keys it was handed. */
export function codecFromSpec(spec: TransformSpec, maxBlockSize: number): BlobCodec {
  const key = spec.dataKey;
  const known = new Map([...(spec.dataKeys ?? []), ...(key ? [key] : [])].map((k) => [k.id.toString('hex'), k.key]));
  const dataKeys: DataKeys | undefined =
    known.size > 0
      ? {
          current: async () => {
            if (!key) throw new EncryptionKeyError('no data key was handed to this reader for new blobs');
            return { id: key.id, key: key.key };
          },
          dataKey: async (id) => {
            const found = known.get(id);
            if (!found) throw new EncryptionKeyError(`data key ${id} was not handed to this reader`);
            return found;
          },
        }
      : undefined;
  return new TransformCodec({
    maxBlockSize,
    ...(spec.compressionLevel !== undefined ? { compressionLevel: spec.compressionLevel } : {}),
    ...(dataKeys ? { dataKeys } : {}),
  });
}

export interface MasterKey {
  /** Recorded with each data key it wraps: 1-64 of A-Z a-z 0-9 _ . - */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

export interface CodecOptions {
  /** zstd level for new blobs; undefined: no compression. */
  readonly compressionLevel?: number;
  /** Master keys, the first wraps new data keys; undefined: no encryption of new blobs. */
  readonly keyring?: Keyring;
  /** Data keys without their master keys (a reader's, see codecFromSpec); ignored with `keyring`. */
  readonly dataKeys?: DataKeys;
  /** Largest block a blob may decompress to. */
  readonly maxBlockSize: number;
}

interface Header {
  readonly flags: number;
  readonly headerLength: number;
}

function readHeader(uid: string, stored: Buffer): Header {
  if (stored.length < BLOB_HEADER_LENGTH || !stored.subarray(0, 4).equals(BLOB_MAGIC)) {
    throw new IntegrityError(`blob ${uid}: not a Blockvault blob (bad header)`);
  }
  const version = stored.readUInt8(4);
  const flags = stored.readUInt8(5);
  const headerLength = stored.readUInt16LE(6);
  if (version > BLOB_FORMAT_VERSION || (flags & ~KNOWN_TRANSFORMS) !== 0) {
    throw new IntegrityError(`blob ${uid}: format ${version} with transforms ${flags} is not supported by this version`);
  }
  const expectedHeader = flags & TRANSFORM_AES_GCM ? ENCRYPTED_HEADER_LENGTH : BLOB_HEADER_LENGTH;
  if (headerLength !== expectedHeader)
    throw new IntegrityError(`blob ${uid}: header length ${headerLength}, expected ${expectedHeader} for transforms ${flags}`);
  const payloadLength = Number(stored.readBigUInt64LE(8));
  if (stored.length !== headerLength + payloadLength) {
    throw new IntegrityError(`blob ${uid}: ${stored.length - headerLength} payload bytes, header says ${payloadLength}`);
  }
  return { flags, headerLength };
}

function blobKey(dek: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dek, salt, 'blockvault blob v1', 32));
}

export class TransformCodec implements BlobCodec {
  readonly #level: number | undefined;
  readonly #keyring: Keyring | undefined;
  readonly #keys: DataKeys | undefined;
  readonly #maxBlockSize: number;

  constructor(options: CodecOptions) {
    if (
      options.compressionLevel !== undefined &&
      (!Number.isInteger(options.compressionLevel) || options.compressionLevel < 1 || options.compressionLevel > 19)
    ) {
      throw new InvalidArgumentError(`zstd level must be 1-19, got ${options.compressionLevel}`);
    }
    this.#level = options.compressionLevel;
    this.#keyring = options.keyring;
    this.#keys = options.keyring ?? options.dataKeys;
    this.#maxBlockSize = options.maxBlockSize;
  }

  get keyring(): Keyring | undefined {
    return this.#keyring;
  }

  get transforms(): boolean {
    return this.#level !== undefined || this.#keys !== undefined;
  }

  async decoding(): Promise<TransformSpec> {
    return this.#keyring ? { dataKeys: await this.#keyring.all() } : {};
  }

  async encoding(): Promise<TransformSpec> {
    return {
      ...(this.#level !== undefined ? { compressionLevel: this.#level } : {}),
      ...(this.#keys ? { dataKey: await this.#keys.current() } : {}),
    };
  }

  async encode(uid: string, data: Buffer): Promise<Uint8Array[]> {
    let payload = data;
    let flags = 0;
    if (this.#level !== undefined && worthCompressing(data, this.#level)) {
      // One output buffer of the block's size: zlib's default 16 KiB chunks cost a threadpool round trip each (3x the time).
      const packed = await compress(data, {
        chunkSize: data.length + ZSTD_MARGIN,
        params: { [zlibConstants.ZSTD_c_compressionLevel]: this.#level },
      });
      if (packed.length < data.length) {
        payload = packed;
        flags |= TRANSFORM_ZSTD;
      } else releaseBuffer(packed);
    }
    if (!this.#keys) return [encodeBlobHeader(payload.length, flags), payload];
    const dek = await this.#keys.current();
    const header = Buffer.alloc(ENCRYPTED_HEADER_LENGTH);
    encodeBlobHeader(payload.length, flags | TRANSFORM_AES_GCM, ENCRYPTED_HEADER_LENGTH).copy(header, 0);
    let at = BLOB_HEADER_LENGTH;
    at += dek.id.copy(header, at);
    const salt = randomBytes(SALT_LENGTH);
    at += salt.copy(header, at);
    const iv = randomBytes(IV_LENGTH);
    at += iv.copy(header, at);
    const cipher = createCipheriv('aes-256-gcm', blobKey(dek.key, salt), iv);
    cipher.setAAD(Buffer.concat([header.subarray(0, at), Buffer.from(uid, 'latin1')]));
    // No concatenation: the store writes the chunks in order (GCM's final() adds no bytes).
    const sealed = cipher.update(payload);
    if (payload !== data) releaseBuffer(payload);
    const tail = cipher.final();
    cipher.getAuthTag().copy(header, at);
    return tail.length > 0 ? [header, sealed, tail] : [header, sealed];
  }

  checkFraming(uid: string, stored: Buffer): void {
    readHeader(uid, stored);
  }

  async decode(uid: string, stored: Buffer): Promise<Buffer> {
    const { flags, headerLength } = readHeader(uid, stored);
    let payload = stored.subarray(headerLength);
    if (flags & TRANSFORM_AES_GCM) {
      if (!this.#keys)
        throw new EncryptionKeyError(`blob ${uid} is encrypted: configure the repository's master key (BLOCKVAULT_ENCRYPTION_KEY_FILE)`);
      let at = BLOB_HEADER_LENGTH;
      const dekId = stored.subarray(at, (at += DEK_ID_LENGTH));
      const salt = stored.subarray(at, (at += SALT_LENGTH));
      const iv = stored.subarray(at, (at += IV_LENGTH));
      const tag = stored.subarray(at, at + TAG_LENGTH);
      const dek = await this.#keys.dataKey(dekId.toString('hex'));
      const decipher = createDecipheriv('aes-256-gcm', blobKey(dek, salt), iv);
      decipher.setAAD(Buffer.concat([stored.subarray(0, at), Buffer.from(uid, 'latin1')]));
      decipher.setAuthTag(tag);
      try {
        const opened = decipher.update(payload);
        // final() checks the tag; nothing is returned before it has.
        const tail = decipher.final();
        payload = tail.length > 0 ? Buffer.concat([opened, tail]) : opened;
      } catch (err) {
        throw new IntegrityError(`blob ${uid}: encrypted payload failed authentication (tampered or corrupted)`, { cause: err });
      }
    }
    if (flags & TRANSFORM_ZSTD) {
      const packed = payload;
      try {
        payload = await decompress(packed, { maxOutputLength: this.#maxBlockSize, chunkSize: this.#maxBlockSize + ZSTD_MARGIN });
      } catch (err) {
        throw new IntegrityError(`blob ${uid}: bad zstd payload: ${(err as Error).message}`);
      }
      // Decrypted into memory of our own: done with. The stored bytes are the caller's.
      if (packed.buffer !== stored.buffer) releaseBuffer(packed);
    }
    return payload;
  }
}

/** No transforms for new blobs; reading transformed ones needs the settings that wrote them. */
export function plainCodec(maxBlockSize: number): BlobCodec {
  return new TransformCodec({ maxBlockSize });
}

interface DataKeyDocument {
  readonly format: 1;
  /** 16 hex digits. */
  readonly id: string;
  readonly masterKey: string;
  readonly iv: string;
  readonly tag: string;
  readonly wrapped: string;
  readonly created: string;
}

const MASTER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The repository's data keys, each wrapped (AES-256-GCM) by a master key and stored in the blob
 * store as `keys/<id>`, beside the blobs it protects: a repository restored or recovered from
 * its blob store needs only the master key. New blobs use a data key wrapped by the first
 * master key; the others only unwrap (key rotation: add the new key first, `rekey`, then drop
 * the old one).
 */
export class Keyring {
  readonly #blobs: BlobStore;
  readonly #masters: readonly MasterKey[];
  readonly #keys = new Map<string, Promise<Buffer>>();
  #current: Promise<{ id: Buffer; key: Buffer }> | undefined;
  readonly #clock: Clock;

  /** `clock` dates the data keys it creates. @default the system clock */
  constructor(blobs: BlobStore, masters: readonly MasterKey[], clock: Clock = systemClock) {
    if (masters.length === 0) throw new InvalidArgumentError('a keyring needs at least one master key');
    for (const m of masters) {
      if (!MASTER_ID.test(m.id)) throw new InvalidArgumentError(`master key id ${JSON.stringify(m.id)} must be 1-64 of A-Z a-z 0-9 _ . -`);
      if (m.key.length !== 32) throw new InvalidArgumentError(`master key ${m.id} must be 32 bytes, got ${m.key.length}`);
    }
    if (new Set(masters.map((m) => m.id)).size !== masters.length) throw new InvalidArgumentError('master key ids must be distinct');
    this.#blobs = blobs;
    this.#masters = masters;
    this.#clock = clock;
  }

  get currentMasterId(): string {
    return this.#masters[0]!.id;
  }

  /** The data key new blobs use: one wrapped by the current master key, created on first use. */
  current(): Promise<{ id: Buffer; key: Buffer }> {
    this.#current ??= this.#findOrCreate().catch((err: unknown) => {
      this.#current = undefined;
      throw err;
    });
    return this.#current;
  }

  /** A data key by id (16 hex digits), unwrapped once per process. */
  dataKey(id: string): Promise<Buffer> {
    let key = this.#keys.get(id);
    if (!key) {
      key = this.#load(id);
      this.#keys.set(id, key);
      // A failed load is not cached: the next use tries again (and reports its own failure).
      key.catch((_failed: unknown) => this.#keys.delete(id));
    }
    return key;
  }

  /** Every data key, unwrapped (for a reader decoding blobs for a restore). */
  async all(): Promise<{ id: Buffer; key: Buffer }[]> {
    const docs = await this.#documents();
    return Promise.all(docs.map(async (d) => ({ id: Buffer.from(d.id, 'hex'), key: await this.dataKey(d.id) })));
  }

  /** Re-wraps every data key under the current master key; blobs are not touched. */
  async rekey(): Promise<{ rewrapped: string[]; alreadyCurrent: string[] }> {
    const rewrapped: string[] = [];
    const alreadyCurrent: string[] = [];
    for (const doc of await this.#documents()) {
      if (doc.masterKey === this.currentMasterId) {
        alreadyCurrent.push(doc.id);
        continue;
      }
      const key = this.#unwrap(doc);
      await this.#blobs.put(`${KEYS_PREFIX}${doc.id}`, [Buffer.from(JSON.stringify(this.#wrap(doc.id, key, doc.created)))]);
      rewrapped.push(doc.id);
    }
    return { rewrapped, alreadyCurrent };
  }

  async #documents(): Promise<DataKeyDocument[]> {
    const docs: DataKeyDocument[] = [];
    for await (const name of this.#blobs.list(KEYS_PREFIX))
      docs.push(this.#parse(name.slice(KEYS_PREFIX.length), await this.#blobs.get(name)));
    return docs.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  async #findOrCreate(): Promise<{ id: Buffer; key: Buffer }> {
    const existing = (await this.#documents()).find((d) => d.masterKey === this.currentMasterId);
    if (existing) return { id: Buffer.from(existing.id, 'hex'), key: await this.dataKey(existing.id) };
    const id = randomBytes(DEK_ID_LENGTH).toString('hex');
    const key = randomBytes(32);
    // Durable before any blob names it.
    await this.#blobs.put(`${KEYS_PREFIX}${id}`, [Buffer.from(JSON.stringify(this.#wrap(id, key, this.#clock.now().toISOString())))]);
    this.#keys.set(id, Promise.resolve(key));
    return { id: Buffer.from(id, 'hex'), key };
  }

  async #load(id: string): Promise<Buffer> {
    let stored: Buffer;
    try {
      stored = await this.#blobs.get(`${KEYS_PREFIX}${id}`);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new EncryptionKeyError(
          `data key ${id} is missing from the blob store (${KEYS_PREFIX}${id}); restore it from a copy of the store`,
        );
      throw err;
    }
    return this.#unwrap(this.#parse(id, stored));
  }

  #parse(id: string, stored: Buffer): DataKeyDocument {
    let doc: DataKeyDocument;
    try {
      doc = JSON.parse(stored.toString('utf8')) as DataKeyDocument;
    } catch (err) {
      throw new EncryptionKeyError(`data key ${id} in the blob store is unreadable`, { cause: err });
    }
    if (doc.format !== 1 || doc.id !== id)
      throw new EncryptionKeyError(`data key ${id} in the blob store is not a format 1 key document for ${id}`);
    return doc;
  }

  #wrap(id: string, key: Buffer, created: string): DataKeyDocument {
    const master = this.#masters[0]!;
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', master.key, iv);
    cipher.setAAD(Buffer.from(`blockvault data key ${id} ${master.id}`));
    const wrapped = Buffer.concat([cipher.update(key), cipher.final()]);
    return {
      format: 1,
      id,
      masterKey: master.id,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      wrapped: wrapped.toString('base64'),
      created,
    };
  }

  #unwrap(doc: DataKeyDocument): Buffer {
    const master = this.#masters.find((m) => m.id === doc.masterKey);
    if (!master)
      throw new EncryptionKeyError(`data key ${doc.id} is wrapped by master key ${JSON.stringify(doc.masterKey)}, which is not configured`);
    const decipher = createDecipheriv('aes-256-gcm', master.key, Buffer.from(doc.iv, 'base64'));
    decipher.setAAD(Buffer.from(`blockvault data key ${doc.id} ${master.id}`));
    decipher.setAuthTag(Buffer.from(doc.tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(doc.wrapped, 'base64')), decipher.final()]);
    } catch (err) {
      throw new EncryptionKeyError(
        `master key ${JSON.stringify(master.id)} does not unwrap data key ${doc.id}: the configured key with that id is not the one that wrapped it`,
        { cause: err },
      );
    }
  }
}
