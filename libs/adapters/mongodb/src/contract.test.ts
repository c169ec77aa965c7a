/** The MetadataStore contract against a real FerretDB (or BLOCKVAULT_MONGO_URL: MongoDB 6/7). */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { metadataContract, useMongo, type MongoHandle } from '@blockvault/testing';
import { openMongo } from './open.ts';

let mongo: MongoHandle;
before(async () => {
  mongo = await useMongo();
});
after(() => mongo.stop());

metadataContract('MongoDB wire protocol', async () => {
  const { store } = await openMongo({ url: mongo.url, database: `bv_test_${randomBytes(4).toString('hex')}` });
  return store;
});
