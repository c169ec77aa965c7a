/**
 * `npm run bench:stores`: the real-store adapters against the raw clients on the same servers
 * (FerretDB, Ceph RGW; started here unless BLOCKVAULT_MONGO_URL / BLOCKVAULT_S3_* are set).
 *   metadata: commitSegments (one segment, one new blob) per second vs raw insertOne per second
 *   blobs:    S3BlobStore put/get of 4 MiB vs the minio client's putObject/getObject, MB/s
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'minio';
import { MongoClient } from 'mongodb';
import { openMongo } from '@blockvault/adapter-mongodb';
import { S3BlobStore } from '@blockvault/adapter-s3';
import { useMongo, useS3 } from '@blockvault/testing';

const COMMITS = 300;
const BLOBS = 48;
const MiB4 = 4 * 1024 * 1024;
const rows: Record<string, string | number>[] = [];
const time = async (fn: () => Promise<void>): Promise<number> => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

const [mongo, s3] = await Promise.all([useMongo(), useS3()]);
try {
  const id = randomBytes(3).toString('hex');
  const { store } = await openMongo({ url: mongo.url, database: `bench_${id}` });
  await store.initConfig({
    formatVersion: 1,
    hash: 'blake3',
    blockSize: MiB4,
    blocksPerSegment: 256,
    disallowRmWhenYoungerThanDays: 0,
    createdAt: new Date().toISOString(),
  });
  await store.createVersion({
    uid: 'bench',
    name: 'b',
    snapshotName: '',
    date: new Date(),
    size: COMMITS * 256,
    sizeBytes: COMMITS * 256 * MiB4,
    valid: false,
    protected: false,
    tags: [],
    expire: null,
    stats: null,
  });
  const adapter = await time(async () => {
    for (let i = 0; i < COMMITS; i++) {
      const checksum = randomBytes(32);
      await store.commitSegments(
        'bench',
        [{ segNo: i, segId: randomBytes(32), sparseBlocks: 0, data: randomBytes(256 * 32) }],
        [{ checksum, uid: randomBytes(16).toString('hex'), size: MiB4, valid: true }],
      );
    }
  });
  await store.close();
  const raw = await new MongoClient(mongo.url).connect();
  const col = raw.db(`bench_raw_${id}`).collection<{ _id: string; d: Buffer }>('docs');
  const rawSeconds = await time(async () => {
    for (let i = 0; i < COMMITS; i++) await col.insertOne({ _id: randomBytes(16).toString('hex'), d: randomBytes(256 * 32) });
  });
  await raw.close();
  rows.push({
    what: 'metadata: commitSegments (1 segment + 1 blob row)',
    'per second': Math.round(COMMITS / adapter),
    note: '~4 round trips each (session check, blob row, segment, pointer)',
  });
  rows.push({
    what: 'metadata: raw insertOne (8 KiB doc)',
    'per second': Math.round(COMMITS / rawSeconds),
    note: 'the driver alone, same server',
  });

  const blobs = new S3BlobStore({ ...s3.config, bucket: `bench-${id}` });
  await blobs.init();
  const data = randomBytes(MiB4);
  const keys = Array.from({ length: BLOBS }, () => randomBytes(16).toString('hex'));
  // RGW creates its data pools on a bucket's first write: keep that out of both measurements.
  await blobs.put(randomBytes(16).toString('hex'), [data]);
  const put = await time(async () => {
    for (const k of keys) await blobs.put(k, [data]);
  });
  const get = await time(async () => {
    for (const k of keys) await blobs.get(k);
  });
  const client = new Client({ ...s3.config, pathStyle: true });
  const bucket = `bench-raw-${id}`;
  await client.makeBucket(bucket);
  await client.putObject(bucket, 'warm-up', data, data.length);
  const rawPut = await time(async () => {
    for (const k of keys) await client.putObject(bucket, k, data, data.length);
  });
  const rawGet = await time(async () => {
    for (const k of keys) {
      const parts: Buffer[] = [];
      for await (const p of await client.getObject(bucket, k)) parts.push(p as Buffer);
    }
  });
  const mbps = (s: number): number => Math.round((BLOBS * MiB4) / s / 1e6);
  rows.push({ what: 'blobs: S3BlobStore put 4 MiB', 'MB/s': mbps(put) }, { what: 'blobs: minio putObject 4 MiB', 'MB/s': mbps(rawPut) });
  rows.push({ what: 'blobs: S3BlobStore get 4 MiB', 'MB/s': mbps(get) }, { what: 'blobs: minio getObject 4 MiB', 'MB/s': mbps(rawGet) });
  for (const r of rows)
    console.log(
      Object.entries(r)
        .map(([k, v]) => (k === 'what' ? String(v).padEnd(52) : `${k} ${v}`))
        .join('  '),
    );
} finally {
  await Promise.all([mongo.stop(), s3.stop()]);
}
