/** Serves a MetadataStore (MongoDB or SQLite) over gRPC: proto/blockvault/v1/metadata.proto. */
import type * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError, type MetadataStore, type SegmentEntry, type BlobRef, type CommitFence } from '@blockvault/core';
import { send, startServer, toServiceError, unaryHandler as unary, type ServerSecurity, type StartedServer } from '@blockvault/grpc-edge';
import { MetadataServiceService, type MetadataServiceServer, type metadataPb as pb, reflectionDescriptors } from '@blockvault/proto';
import {
  blobFromPb,
  blobRecordToPb,
  blobToPb,
  configFromPb,
  configToPb,
  iso,
  sessionFromPb,
  sessionToPb,
  statsFromPb,
  time,
  versionFromPb,
  versionToPb,
} from './codec.ts';

/** How many ids or records one streamed message carries. */
const STREAM_BATCH = 4096;

/** A server-streaming handler writing what `fn` yields, with flow control. */
function stream<Req, Res>(fn: (req: Req) => AsyncIterable<Res> | Iterable<Res>): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    void (async () => {
      try {
        for await (const item of fn(call.request)) {
          if (call.cancelled) return;
          if (!(await send(call, item))) return; // the client went away
        }
        call.end();
      } catch (err) {
        call.emit('error', toServiceError(err));
      }
    })();
  };
}

const EMPTY = {};

export function metadataService(store: MetadataStore): MetadataServiceServer {
  return {
    getConfig: unary(async () => {
      const config = await store.getConfig();
      return config ? { config: configToPb(config) } : {};
    }),
    initConfig: unary(async (req) => ({ config: configToPb(await store.initConfig(configFromPb(req))) })),
    getSetting: unary(async (req) => {
      const value = await store.getSetting(req.key);
      return { json: value === undefined ? '' : JSON.stringify(value) };
    }),
    putSetting: unary(async (req) => {
      let value: unknown;
      try {
        value = JSON.parse(req.json);
      } catch (err) {
        throw new InvalidArgumentError(`setting ${JSON.stringify(req.key)} is not JSON`, { cause: err });
      }
      await store.putSetting(req.key, value);
      return EMPTY;
    }),

    createVersion: unary(async (req) => (await store.createVersion(versionFromPb(req)), EMPTY)),
    getVersion: unary(async (req) => versionToPb(await store.getVersion(req.uid))),
    listVersions: stream(async function* (req) {
      const filter = {
        ...(req.name !== undefined ? { name: req.name } : {}),
        ...(req.tag !== undefined ? { tag: req.tag } : {}),
        ...(req.snapshotName !== undefined ? { snapshotName: req.snapshotName } : {}),
      };
      for (const v of await store.listVersions(filter)) yield versionToPb(v);
    }),
    updateVersion: unary(async (req) => {
      await store.updateVersion(req.uid, {
        ...(req.valid !== undefined ? { valid: req.valid } : {}),
        ...(req.protected !== undefined ? { protected: req.protected } : {}),
        ...(req.expire !== undefined ? { expire: req.expire === '' ? null : time(req.expire, 'expire') } : {}),
        ...(req.stats ? { stats: statsFromPb(req.stats) } : {}),
        ...(req.setTags ? { tags: req.tags } : {}),
      });
      return EMPTY;
    }),
    deleteVersion: unary(async (req) => (await store.deleteVersion(req.uid, time(req.now, 'now')), EMPTY)),

    getVersionSegments: stream(async function* (req) {
      for (const [segNo, p] of await store.getVersionSegments(req.uid)) yield { segNo, segId: p.segId, sparseBlocks: p.sparseBlocks };
    }),
    getSegments: stream(async function* (req) {
      for (let i = 0; i < req.ids.length; i += STREAM_BATCH) {
        for (const data of await store.getSegments(req.ids.slice(i, i + STREAM_BATCH))) yield { data };
      }
    }),
    commitSegments: (call, callback) => {
      let versionUid = '';
      let fence: CommitFence | undefined;
      const entries: SegmentEntry[] = [];
      const blobs: BlobRef[] = [];
      let bad: Error | undefined;
      call.on('data', (m: pb.CommitSegmentsRequest) => {
        try {
          if (m.versionUid) versionUid = m.versionUid;
          if (m.fence) fence = { sessionId: m.fence.sessionId, now: time(m.fence.now, 'fence.now') };
          for (const e of m.entries)
            entries.push({ segNo: e.segNo, segId: e.segId, sparseBlocks: e.sparseBlocks, ...(e.data ? { data: e.data } : {}) });
          for (const b of m.newBlobs) blobs.push(blobFromPb(b));
        } catch (err) {
          bad ??= err as Error;
        }
      });
      call.on('end', () => {
        if (bad) return callback(toServiceError(bad));
        if (!versionUid) return callback(toServiceError(new InvalidArgumentError('commit without version_uid')));
        store.commitSegments(versionUid, entries, blobs, fence).then(
          () => callback(null, EMPTY),
          (err: unknown) => callback(toServiceError(err)),
        );
      });
      call.on('error', () => undefined);
    },

    lookupBlobs: unary(async (req) => ({ blobs: (await store.lookupBlobs(req.checksums)).map((b) => (b ? { blob: blobToPb(b) } : {})) })),
    claimBlobs: unary(async (req) => ({
      blobs: (await store.claimBlobs(req.checksums, time(req.now, 'now'))).map((b) => (b ? { blob: blobToPb(b) } : {})),
    })),
    listInvalidChecksums: unary(async () => ({ checksums: await store.listInvalidChecksums() })),
    invalidateBlob: unary(async (req) => ({ uids: await store.invalidateBlob(req.checksum, req.uid) })),

    openSession: unary(async (req) => (await store.openSession(sessionFromPb(req)), EMPTY)),
    renewSession: unary(async (req) => (await store.renewSession(req.id, time(req.expires, 'expires'), time(req.now, 'now')), EMPTY)),
    closeSession: unary(async (req) => (await store.closeSession(req.id), EMPTY)),
    liveSessions: stream(async function* (req) {
      for (const s of await store.liveSessions(time(req.now, 'now'))) yield sessionToPb(s);
    }),

    referencedSegmentIds: stream(async function* () {
      const ids = await store.referencedSegmentIds();
      for (let i = 0; i < ids.length; i += STREAM_BATCH) yield { checksums: ids.slice(i, i + STREAM_BATCH) };
    }),
    deleteUnreferencedSegments: unary(async () => ({ count: await store.deleteUnreferencedSegments() })),
    listBlobRecords: stream(async function* () {
      for (const r of await store.listBlobRecords()) yield blobRecordToPb(r);
    }),
    markUnreferenced: unary(
      async (req) => (await store.markUnreferenced(req.unreferenced, req.referenced, time(req.since, 'since')), EMPTY),
    ),
    condemnBlob: unary(async (req) => ({ condemned: await store.condemnBlob(req.checksum, req.uid, time(req.cutoff, 'cutoff')) })),
    forgetBlob: unary(async (req) => (await store.forgetBlob(req.checksum, req.uid), EMPTY)),
    listOrphans: stream(async function* () {
      for (const o of await store.listOrphans()) yield { uid: o.uid, since: iso(o.since) };
    }),
    forgetOrphans: unary(async (req) => (await store.forgetOrphans(req.uids), EMPTY)),
  };
}

export type MetadataServer = StartedServer;

/** `security`: TLS and the cluster token (as its only grant, with admin). */
export function serveMetadata(store: MetadataStore, address: string, security?: ServerSecurity): Promise<MetadataServer> {
  return startServer(
    'blockvault.v1.MetadataService',
    address,
    'blockvault/v1/metadata.proto',
    {
      definition: MetadataServiceService,
      implementation: metadataService(store),
      descriptors: reflectionDescriptors('blockvault/v1/metadata.proto'),
    },
    security,
  );
}
