/** The MetadataStore contract against a real FerretDB (or BLOCKVAULT_MONGO_URL: MongoDB 6/7). */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { MongoClient } from 'mongodb';
import { locksContract, metadataContract, useMongo, type MongoHandle } from '@blockvault/testing';
import { MongoLocks } from './mongo-locks.ts';
import { openMongo } from './open.ts';

let mongo: MongoHandle;
before(async () => {
  mongo = await useMongo();
});
const clients: MongoClient[] = [];
after(async () => {
  for (const c of clients) await c.close();
  await mongo.stop();
});
const locksDb = `bv_locks_${randomBytes(4).toString('hex')}`;

metadataContract('MongoDB wire protocol', async () => {
  const { store } = await openMongo({ url: mongo.url, database: `bv_test_${randomBytes(4).toString('hex')}` });
  return store;
});

locksContract('MongoDB leases', async (clock, options) => {
  const client = await new MongoClient(mongo.url).connect();
  clients.push(client);
  return new MongoLocks(client.db(locksDb), clock, options);
});
