import { MongoClient } from 'mongodb';
import { InvalidArgumentError, type Clock } from '@blockvault/core';
import { redactUrl, translate } from './errors.ts';
import { MongoMetadataStore } from './mongo-metadata.ts';

export interface MongoOptions {
  /** mongodb://[user:password@]host:port/[database] */
  readonly url: string;
  /** @default the database in the URL, else 'blockvault' */
  readonly database?: string;
  /** @default 10000 */
  readonly serverSelectionTimeoutMs?: number;
  /** @default the system clock */
  readonly clock?: Clock;
}

/** Connects, checks the server answers, and creates the indexes. */
export async function openMongo(options: MongoOptions): Promise<{ client: MongoClient; store: MongoMetadataStore }> {
  if (!/^mongodb(\+srv)?:\/\//.test(options.url)) throw new InvalidArgumentError(`not a MongoDB URL: ${redactUrl(options.url)}`);
  const client = new MongoClient(options.url, { serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 10_000 });
  await translate(() => client.connect());
  const db = client.db(options.database ?? (client.options.dbName || 'blockvault'));
  await translate(() => db.command({ ping: 1 }));
  const store = new MongoMetadataStore(db, () => client.close(), options.clock);
  await store.init();
  return { client, store };
}
