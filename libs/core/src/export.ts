/**
 * A version's metadata as a self-describing, versioned document with a checksum: the version,
 * its block map (segments) and the blobs it references. `export`/`import` move it between
 * repositories; a copy is written into the blob store (`versions/<uid>`) when a version
 * completes, so that a restore needs only the blob store when the metadata database is lost.
 */
import { createHash } from 'node:crypto';
import { digestAt, isSparseDigest, SegmentLayout } from './block-map.ts';
import type { EngineContext } from './context.ts';
import { AlreadyExistsError, InvalidArgumentError, InvalidVersionStateError } from './errors.ts';
import { versionToJson, type BackupStats, type BlobRef, type Version, type VersionJson } from './model.ts';
import { BackupSessionLease } from './session.ts';

export const EXPORT_KIND = 'blockvault-version';
export const EXPORT_FORMAT_VERSION = 1;
export const METADATA_KEY_PREFIX = 'versions/';

export interface ExportBody {
  readonly repository: { readonly hash: string; readonly blockSize: number; readonly blocksPerSegment: number };
  readonly version: VersionJson & { stats: BackupStats | null };
  /** Segment bytes in order, base64. */
  readonly segments: string[];
  /** hex checksum -> [blob uid, size]. */
  readonly blobs: Record<string, [string, number]>;
}

export interface ExportDocument {
  readonly kind: typeof EXPORT_KIND;
  readonly formatVersion: number;
  /** `sha256:` and the hex SHA-256 of `JSON.stringify(body)`. */
  readonly checksum: string;
  readonly body: ExportBody;
}

export function metadataKey(uid: string): string {
  return `${METADATA_KEY_PREFIX}${uid}`;
}

function bodyChecksum(body: ExportBody): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
}

export async function exportVersion(ctx: EngineContext, uid: string): Promise<ExportDocument> {
  const { metadata, config, hasher } = ctx;
  const v = await metadata.getVersion(uid);
  const layout = new SegmentLayout(v.size, config.blocksPerSegment, hasher.digestLength);
  const pointers = await metadata.getVersionSegments(uid);
  if (pointers.size !== layout.segments)
    throw new InvalidVersionStateError(`version ${uid} is incomplete; only complete versions can be exported`);
  const segments = await metadata.getSegments(Array.from({ length: layout.segments }, (_, n) => pointers.get(n)!.segId));
  const checksums = new Map<string, Buffer>();
  for (const segment of segments) {
    for (let i = 0; i < segment.length / layout.digestLength; i++) {
      const d = digestAt(segment, i, layout.digestLength);
      if (!isSparseDigest(d)) checksums.set(d.toString('hex'), d);
    }
  }
  const refs = await metadata.lookupBlobs([...checksums.values()]);
  const blobs: Record<string, [string, number]> = {};
  for (const ref of refs) if (ref) blobs[ref.checksum.toString('hex')] = [ref.uid, ref.size];
  const body: ExportBody = {
    repository: { hash: config.hash, blockSize: config.blockSize, blocksPerSegment: config.blocksPerSegment },
    version: { ...versionToJson(v), stats: v.stats },
    segments: segments.map((s) => s.toString('base64')),
    blobs,
  };
  return { kind: EXPORT_KIND, formatVersion: EXPORT_FORMAT_VERSION, checksum: bodyChecksum(body), body };
}

/** Parses and verifies an export. @throws InvalidArgumentError naming what is wrong */
export function parseExport(text: string, origin = 'export'): ExportDocument {
  let doc: Partial<ExportDocument>;
  try {
    doc = JSON.parse(text) as Partial<ExportDocument>;
  } catch (err) {
    throw new InvalidArgumentError(`${origin}: not JSON (${(err as Error).message}); expected a file written by \`blockvault export\``);
  }
  if (doc?.kind !== EXPORT_KIND)
    throw new InvalidArgumentError(`${origin}: not a Blockvault version export (kind ${JSON.stringify(doc?.kind)})`);
  if (doc.formatVersion !== EXPORT_FORMAT_VERSION)
    throw new InvalidArgumentError(
      `${origin}: format version ${doc.formatVersion} is not supported (this build reads ${EXPORT_FORMAT_VERSION})`,
    );
  if (!doc.body || typeof doc.body !== 'object') throw new InvalidArgumentError(`${origin}: no body`);
  if (doc.checksum !== bodyChecksum(doc.body))
    throw new InvalidArgumentError(`${origin}: checksum mismatch; the file is damaged or was edited`);
  return doc as ExportDocument;
}

/** Records an exported version in this repository (it must share hash and block layout). */
export async function importVersion(ctx: EngineContext, doc: ExportDocument): Promise<Version> {
  const { metadata, config, hasher, clock } = ctx;
  const { repository: r, version: ev, segments, blobs } = doc.body;
  if (r.hash !== config.hash || r.blockSize !== config.blockSize || r.blocksPerSegment !== config.blocksPerSegment) {
    throw new InvalidArgumentError(
      `the export uses hash ${r.hash}, block size ${r.blockSize}, ${r.blocksPerSegment} blocks per segment; this repository uses ${config.hash}, ${config.blockSize}, ${config.blocksPerSegment}`,
    );
  }
  const layout = new SegmentLayout(ev.size, config.blocksPerSegment, hasher.digestLength);
  if (segments.length !== layout.segments)
    throw new InvalidArgumentError(`the export has ${segments.length} segments; a version of ${ev.size} blocks needs ${layout.segments}`);
  const exists = await metadata.getVersion(ev.uid).then(
    () => true,
    () => false,
  );
  if (exists) throw new AlreadyExistsError(`version ${ev.uid} already exists in this repository; remove it first to import it again`);
  // A session, as for a backup: cleanup spares the blobs this import is about to reference.
  const session = await BackupSessionLease.open(ctx, ev.uid, null);
  try {
    const version: Version = {
      uid: ev.uid,
      name: ev.name,
      snapshotName: ev.snapshotName,
      date: new Date(ev.date),
      size: ev.size,
      sizeBytes: ev.sizeBytes,
      valid: false,
      protected: ev.protected,
      tags: ev.tags,
      expire: ev.expire ? new Date(ev.expire) : null,
      stats: ev.stats,
    };
    await metadata.createVersion(version);
    const checksums = Object.keys(blobs).map((k) => Buffer.from(k, 'hex'));
    const known = await metadata.claimBlobs(checksums, clock.now());
    const missing: BlobRef[] = checksums.flatMap((c, i) => {
      if (known[i]) return [];
      const [uid, size] = blobs[c.toString('hex')]!;
      return [{ checksum: c, uid, size, valid: true }];
    });
    const entries = segments.map((b64, segNo) => {
      const data = Buffer.from(b64, 'base64');
      if (data.length !== layout.blocksIn(segNo) * layout.digestLength)
        throw new InvalidArgumentError(`segment ${segNo} of the export has the wrong length`);
      let sparseBlocks = 0;
      for (let i = 0; i < layout.blocksIn(segNo); i++) if (isSparseDigest(digestAt(data, i, layout.digestLength))) sparseBlocks++;
      return { segNo, segId: hasher.digest(data), sparseBlocks, data };
    });
    await metadata.commitSegments(ev.uid, entries, missing, session.fence());
    // Blobs recorded from the export must really be there (and not being cleaned up).
    const present = await Promise.all(missing.map(async (b) => (await ctx.blobs.stat(b.uid)) !== undefined));
    const claimed = await metadata.claimBlobs(
      missing.map((b) => b.checksum),
      clock.now(),
    );
    const complete = present.every(Boolean) && claimed.every((c) => c !== undefined);
    await metadata.updateVersion(ev.uid, { valid: ev.valid && complete });
    ctx.events.publish({ kind: 'version.imported', versionUid: ev.uid, name: ev.name });
    return await metadata.getVersion(ev.uid);
  } finally {
    await session.close();
  }
}

/** Writes the version's export into the blob store, beside its blocks. */
export async function storeVersionMetadata(ctx: EngineContext, uid: string): Promise<void> {
  const doc = await exportVersion(ctx, uid);
  await ctx.blobs.put(metadataKey(uid), [Buffer.from(JSON.stringify(doc))]);
}

/** Rebuilds metadata from the documents in the blob store; returns the uids imported and skipped. */
export async function recoverFromBlobStore(ctx: EngineContext): Promise<{ imported: string[]; skipped: string[] }> {
  const imported: string[] = [];
  const skipped: string[] = [];
  for await (const key of ctx.blobs.list(METADATA_KEY_PREFIX)) {
    const doc = parseExport((await ctx.blobs.get(key)).toString('utf8'), key);
    try {
      imported.push((await importVersion(ctx, doc)).uid);
    } catch (err) {
      if (err instanceof AlreadyExistsError) skipped.push(doc.body.version.uid);
      else throw err;
    }
  }
  return { imported, skipped };
}
