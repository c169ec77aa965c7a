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

/** How often the driver checks each server (polling: a dead check shows as missing heartbeats). */
const HEARTBEAT_MS = 2000;
/** No heartbeat at all for this long: the driver's monitor is stuck, and the client is reconnected. */
const STUCK_MONITOR_MS = 10_000;

/** Connects, checks the server answers, and creates the indexes. */
export async function openMongo(options: MongoOptions): Promise<{ client: MongoClient; store: MongoMetadataStore }> {
  if (!/^mongodb(\+srv)?:\/\//.test(options.url)) throw new InvalidArgumentError(`not a MongoDB URL: ${redactUrl(options.url)}`);
  const client = new MongoClient(options.url, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 10_000,
    serverMonitoringMode: 'poll',
    heartbeatFrequencyMS: HEARTBEAT_MS,
  });
  await translate(() => client.connect());
  const db = client.db(options.database ?? (client.options.dbName || 'blockvault'));
  await translate(() => db.command({ ping: 1 }));
  const stopWatchdog = watchMonitor(client);
  const store = new MongoMetadataStore(
    db,
    async () => {
      stopWatchdog();
      await client.close();
    },
    options.clock,
  );
  await store.init();
  return { client, store };
}

/**
 * The fault suite found a client whose server monitor had stopped after its database was killed
 * mid-commit: no connection, no heartbeat, and every call failing server selection for minutes
 * while the database was back. When no heartbeat (succeeded or failed) arrives for
 * STUCK_MONITOR_MS (five missed heartbeats), this closes the client and connects it again, which starts a new monitor.
 */
function watchMonitor(client: MongoClient): () => void {
  let last = performance.now();
  let reconnecting = false;
  const beat = (): void => {
    last = performance.now();
  };
  client.on('serverHeartbeatSucceeded', beat).on('serverHeartbeatFailed', beat);
  const timer = setInterval(() => {
    if (reconnecting || performance.now() - last < STUCK_MONITOR_MS) return;
    reconnecting = true;
    void (async () => {
      try {
        await client.close();
        await client.connect();
      } catch (_stillDown: unknown) {
        // The next tick tries again; calls meanwhile fail as unavailable.
      } finally {
        last = performance.now();
        reconnecting = false;
      }
    })();
  }, STUCK_MONITOR_MS / 4);
  timer.unref();
  return () => {
    clearInterval(timer);
    client.off('serverHeartbeatSucceeded', beat).off('serverHeartbeatFailed', beat);
  };
}
