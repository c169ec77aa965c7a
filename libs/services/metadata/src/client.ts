/**
 * A MetadataStore that is the metadata service: workers and schedulers use it where they do not
 * reach the database themselves. gRPC statuses become the port's typed errors again.
 */
import * as grpc from '@grpc/grpc-js';
import type {
  BackupSession,
  BlobRecord,
  BlobRef,
  CommitFence,
  MetadataStore,
  RepositoryConfig,
  SegmentEntry,
  SegmentPointer,
  Version,
  VersionFilter,
  VersionPatch,
} from '@blockvault/core';
import { channelCredentials, clientOptions, fromServiceError, type ClientSecurity } from '@blockvault/grpc-edge';
import { MetadataServiceClient, type metadataPb as pb } from '@blockvault/proto';
import {
  batches,
  blobFromPb,
  blobRecordFromPb,
  blobToPb,
  configFromPb,
  configToPb,
  iso,
  sessionFromPb,
  sessionToPb,
  statsToPb,
  time,
  versionFromPb,
  versionToPb,
} from './codec.ts';

/** Ids or checksums per request: 100,000 x 64 bytes stays well inside the message limit. */
const ID_BATCH = 100_000;
/** Segment bytes per commit message. */
const COMMIT_MESSAGE_BYTES = 2 * 1024 * 1024;

export interface RemoteMetadataOptions {
  /** Deadline of each call. @default 300000 */
  readonly deadlineMs?: number;
  /** TLS and the cluster token. */
  readonly security?: ClientSecurity;
}

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;

export class RemoteMetadataStore implements MetadataStore {
  readonly #client: MetadataServiceClient;
  readonly #where: string;
  readonly #deadlineMs: number;

  constructor(address: string, options: RemoteMetadataOptions = {}) {
    this.#where = `metadata service ${address}`;
    this.#deadlineMs = options.deadlineMs ?? 300_000;
    this.#client = new MetadataServiceClient(address, channelCredentials(options.security?.tls), clientOptions(options.security));
  }

  #options(): Partial<grpc.CallOptions> {
    return { deadline: Date.now() + this.#deadlineMs };
  }

  #unary<Res>(invoke: (metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Res>) => unknown): Promise<Res> {
    return new Promise((done, fail) => {
      invoke(new grpc.Metadata(), this.#options(), (err, res) => (err ? fail(fromServiceError(err, this.#where)) : done(res)));
    });
  }

  async #collect<T>(call: grpc.ClientReadableStream<T>): Promise<T[]> {
    const out: T[] = [];
    try {
      for await (const item of call as AsyncIterable<T>) out.push(item);
    } catch (err) {
      throw fromServiceError(err as grpc.ServiceError, this.#where);
    }
    return out;
  }

  async getConfig(): Promise<RepositoryConfig | undefined> {
    const res = await this.#unary<pb.ConfigResponse>((m, o, cb) => this.#client.getConfig({}, m, o, cb));
    return res.config ? configFromPb(res.config) : undefined;
  }

  async initConfig(config: RepositoryConfig): Promise<RepositoryConfig> {
    const res = await this.#unary<pb.ConfigResponse>((m, o, cb) => this.#client.initConfig(configToPb(config), m, o, cb));
    return configFromPb(res.config!);
  }

  async getSetting(key: string): Promise<unknown> {
    const res = await this.#unary<pb.SettingValue>((m, o, cb) => this.#client.getSetting({ key }, m, o, cb));
    return res.json === '' ? undefined : (JSON.parse(res.json) as unknown);
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.putSetting({ key, json: JSON.stringify(value) }, m, o, cb));
  }

  async createVersion(version: Version): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.createVersion(versionToPb(version), m, o, cb));
  }

  async getVersion(uid: string): Promise<Version> {
    return versionFromPb(await this.#unary<pb.VersionRecord>((m, o, cb) => this.#client.getVersion({ uid }, m, o, cb)));
  }

  async listVersions(filter: VersionFilter = {}): Promise<Version[]> {
    const records = await this.#collect(this.#client.listVersions({ ...filter }, new grpc.Metadata(), this.#options()));
    return records.map(versionFromPb);
  }

  async updateVersion(uid: string, patch: VersionPatch): Promise<void> {
    const req: pb.UpdateVersionRequest = {
      uid,
      ...(patch.valid !== undefined ? { valid: patch.valid } : {}),
      ...(patch.protected !== undefined ? { protected: patch.protected } : {}),
      ...(patch.expire !== undefined ? { expire: patch.expire ? iso(patch.expire) : '' } : {}),
      ...(patch.stats ? { stats: statsToPb(patch.stats) } : {}),
      setTags: patch.tags !== undefined,
      tags: [...(patch.tags ?? [])],
    };
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.updateVersion(req, m, o, cb));
  }

  async deleteVersion(uid: string, now: Date): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.deleteVersion({ uid, now: iso(now) }, m, o, cb));
  }

  async getVersionSegments(uid: string): Promise<Map<number, SegmentPointer>> {
    const pointers = await this.#collect(this.#client.getVersionSegments({ uid }, new grpc.Metadata(), this.#options()));
    return new Map(pointers.map((p) => [p.segNo, { segId: p.segId, sparseBlocks: p.sparseBlocks }]));
  }

  async getSegments(ids: readonly Buffer[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const batch of batches(ids, ID_BATCH)) {
      for (const s of await this.#collect(this.#client.getSegments({ ids: batch }, new grpc.Metadata(), this.#options()))) out.push(s.data);
    }
    return out;
  }

  commitSegments(versionUid: string, entries: readonly SegmentEntry[], newBlobs: readonly BlobRef[], fence?: CommitFence): Promise<void> {
    return new Promise((done, fail) => {
      const call = this.#client.commitSegments(new grpc.Metadata(), this.#options(), (err) =>
        err ? fail(fromServiceError(err, this.#where)) : done(),
      );
      void (async () => {
        const write = async (msg: pb.CommitSegmentsRequest): Promise<void> => {
          if (!call.write(msg)) await new Promise((r) => call.once('drain', r));
        };
        await write({
          versionUid,
          ...(fence ? { fence: { sessionId: fence.sessionId, now: iso(fence.now) } } : {}),
          entries: [],
          newBlobs: [],
        });
        let pending: pb.SegmentEntry[] = [];
        let bytes = 0;
        for (const e of entries) {
          pending.push({ segNo: e.segNo, segId: e.segId, sparseBlocks: e.sparseBlocks, ...(e.data ? { data: e.data } : {}) });
          bytes += 64 + (e.data?.length ?? 0);
          if (bytes >= COMMIT_MESSAGE_BYTES) {
            await write({ versionUid: '', entries: pending, newBlobs: [] });
            pending = [];
            bytes = 0;
          }
        }
        if (pending.length > 0) await write({ versionUid: '', entries: pending, newBlobs: [] });
        for (const batch of batches(newBlobs, ID_BATCH / 4)) await write({ versionUid: '', entries: [], newBlobs: batch.map(blobToPb) });
        call.end();
      })();
    });
  }

  async lookupBlobs(checksums: readonly Buffer[]): Promise<(BlobRef | undefined)[]> {
    const out: (BlobRef | undefined)[] = [];
    for (const batch of batches(checksums, ID_BATCH)) {
      const res = await this.#unary<pb.BlobLookupResponse>((m, o, cb) => this.#client.lookupBlobs({ checksums: batch }, m, o, cb));
      for (const b of res.blobs) out.push(b.blob ? blobFromPb(b.blob) : undefined);
    }
    return out;
  }

  async claimBlobs(checksums: readonly Buffer[], now: Date): Promise<(BlobRef | undefined)[]> {
    const out: (BlobRef | undefined)[] = [];
    for (const batch of batches(checksums, ID_BATCH)) {
      const res = await this.#unary<pb.BlobLookupResponse>((m, o, cb) =>
        this.#client.claimBlobs({ checksums: batch, now: iso(now) }, m, o, cb),
      );
      for (const b of res.blobs) out.push(b.blob ? blobFromPb(b.blob) : undefined);
    }
    return out;
  }

  async listInvalidChecksums(): Promise<Buffer[]> {
    return (await this.#unary<pb.ChecksumsRequest>((m, o, cb) => this.#client.listInvalidChecksums({}, m, o, cb))).checksums;
  }

  async invalidateBlob(checksum: Buffer, uid: string): Promise<string[]> {
    return (await this.#unary<pb.VersionUids>((m, o, cb) => this.#client.invalidateBlob({ checksum, uid }, m, o, cb))).uids;
  }

  async openSession(session: BackupSession): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.openSession(sessionToPb(session), m, o, cb));
  }

  async renewSession(id: string, expires: Date, now: Date): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.renewSession({ id, expires: iso(expires), now: iso(now) }, m, o, cb));
  }

  async closeSession(id: string): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.closeSession({ id }, m, o, cb));
  }

  async liveSessions(now: Date): Promise<BackupSession[]> {
    return (await this.#collect(this.#client.liveSessions({ now: iso(now) }, new grpc.Metadata(), this.#options()))).map(sessionFromPb);
  }

  async referencedSegmentIds(): Promise<Buffer[]> {
    return (await this.#collect(this.#client.referencedSegmentIds({}, new grpc.Metadata(), this.#options()))).flatMap((b) => b.checksums);
  }

  async deleteUnreferencedSegments(): Promise<number> {
    return (await this.#unary<pb.CountResponse>((m, o, cb) => this.#client.deleteUnreferencedSegments({}, m, o, cb))).count;
  }

  async listBlobRecords(): Promise<BlobRecord[]> {
    return (await this.#collect(this.#client.listBlobRecords({}, new grpc.Metadata(), this.#options()))).map(blobRecordFromPb);
  }

  async markUnreferenced(unreferenced: readonly Buffer[], referenced: readonly Buffer[], since: Date): Promise<void> {
    // Each checksum's mark is independent of the others, so the lists may go in several calls.
    const rounds = Math.max(1, Math.ceil(unreferenced.length / ID_BATCH), Math.ceil(referenced.length / ID_BATCH));
    for (let i = 0; i < rounds; i++) {
      const req = {
        unreferenced: unreferenced.slice(i * ID_BATCH, (i + 1) * ID_BATCH),
        referenced: referenced.slice(i * ID_BATCH, (i + 1) * ID_BATCH),
        since: iso(since),
      };
      await this.#unary<pb.Empty>((m, o, cb) => this.#client.markUnreferenced(req, m, o, cb));
    }
  }

  async condemnBlob(checksum: Buffer, uid: string, cutoff: Date): Promise<boolean> {
    return (
      await this.#unary<pb.CondemnBlobResponse>((m, o, cb) => this.#client.condemnBlob({ checksum, uid, cutoff: iso(cutoff) }, m, o, cb))
    ).condemned;
  }

  async forgetBlob(checksum: Buffer, uid: string): Promise<void> {
    await this.#unary<pb.Empty>((m, o, cb) => this.#client.forgetBlob({ checksum, uid }, m, o, cb));
  }

  async listOrphans(): Promise<{ uid: string; since: Date }[]> {
    return (await this.#collect(this.#client.listOrphans({}, new grpc.Metadata(), this.#options()))).map((o) => ({
      uid: o.uid,
      since: time(o.since, 'since'),
    }));
  }

  async forgetOrphans(uids: readonly string[]): Promise<void> {
    for (const batch of batches(uids, ID_BATCH))
      await this.#unary<pb.Empty>((m, o, cb) => this.#client.forgetOrphans({ uids: batch }, m, o, cb));
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}
