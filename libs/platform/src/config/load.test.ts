/** The one configuration: every variable listed and documented, defaults shared, bad values refused by name. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@blockvault/core';
import { defaultConfig, loadConfig } from './load.ts';
import { readConfigTable } from './readme.ts';
import { configTable, VARIABLES } from './variables.ts';

const README = resolve(import.meta.dirname, '../../../../README.md');

describe('configuration', () => {
  it("the README's table is the one generated from the variables (npm run docs:config)", () => {
    assert.equal(readConfigTable(readFileSync(README, 'utf8')), configTable());
  });

  it('the loader reads every listed variable and no other', () => {
    const read = new Set<string>();
    const env = new Proxy(
      {
        BLOCKVAULT_MONGO_URL: 'mongodb://db',
        BLOCKVAULT_S3_ENDPOINT: 's3.local',
        BLOCKVAULT_S3_ACCESS_KEY: 'a',
        BLOCKVAULT_S3_SECRET_KEY: 'b',
      } as Record<string, string>,
      {
        get: (target, name: string) => {
          read.add(name);
          return target[name];
        },
      },
    );
    loadConfig({}, env);
    assert.deepEqual([...read].sort(), VARIABLES.map((v) => v.name).sort());
  });

  it('an empty environment gives the documented defaults', () => {
    const c = defaultConfig('/srv/bv');
    assert.equal(c.home, '/srv/bv');
    assert.deepEqual(c.stores.metadata, {});
    assert.equal(c.stores.blobs.retryMs, 30_000);
    assert.equal(c.nats.url, undefined);
    assert.equal(c.nats.deployment, 'default');
    assert.deepEqual(c.queue, { ackWaitMs: 30_000, lockTtlMs: 60_000, outageRetryMs: 120_000 });
    assert.equal(c.scheduler.tickMs, 30_000);
    assert.equal(c.telemetry.traceBlockRatio, 0.01);
    assert.equal(c.logging.level, 'info');
    assert.equal(c.io.rbdPython, '/usr/bin/python3');
  });

  it('flags win over the environment; XDG_DATA_HOME places the default home', () => {
    assert.equal(loadConfig({}, { XDG_DATA_HOME: '/data' }).home, '/data/blockvault');
    assert.equal(loadConfig({}, { BLOCKVAULT_HOME: '/env', XDG_DATA_HOME: '/data' }).home, '/env');
    assert.equal(loadConfig({ home: '/flag' }, { BLOCKVAULT_HOME: '/env' }).home, '/flag');
    assert.equal(loadConfig({ natsUrl: 'nats://a:1' }, { BLOCKVAULT_NATS_URL: 'nats://b:2' }).nats.url, 'nats://a:1');
  });

  const bad: [string, string][] = [
    ['BLOCKVAULT_JOB_ACK_WAIT_MS', 'soon'],
    ['BLOCKVAULT_JOB_ACK_WAIT_MS', '10'],
    ['BLOCKVAULT_LOCK_TTL_MS', '-5'],
    ['BLOCKVAULT_SCHEDULER_TICK_MS', '1.5'],
    ['BLOCKVAULT_STORE_RETRY_MS', 'forever'],
    ['BLOCKVAULT_TRACE_BLOCKS', '2'],
    ['BLOCKVAULT_LOG_LEVEL', 'loud'],
    ['BLOCKVAULT_COMPRESSION', 'gzip'],
    ['BLOCKVAULT_COMPRESSION_LEVEL', '30'],
    ['BLOCKVAULT_METADATA_URL', 'http://x'],
    ['BLOCKVAULT_GRPC_LISTEN', 'localhost:99999'],
    ['BLOCKVAULT_NATS_URL', 'http://127.0.0.1:4222'],
    ['BLOCKVAULT_NATS_URL', 'not a url'],
    ['BLOCKVAULT_DEPLOYMENT', 'prod eu'],
    ['BLOCKVAULT_TLS_CLIENT_AUTH', 'maybe'],
    ['BLOCKVAULT_IO_ROOTS', 'relative/path'],
  ];
  for (const [name, value] of bad) {
    it(`refuses ${name}=${value} naming the variable`, () => {
      assert.throws(
        () => loadConfig({}, { [name]: value }),
        (err: unknown) => err instanceof InvalidArgumentError && err.message.includes(name),
      );
    });
  }

  it('a bad flag is refused by its own name', () => {
    assert.throws(
      () => loadConfig({ listen: 'nowhere' }, {}),
      (err: unknown) =>
        err instanceof InvalidArgumentError && err.message.startsWith('--listen ') && !err.message.includes('BLOCKVAULT_GRPC_LISTEN'),
    );
  });

  it('a long bad value is not echoed whole', () => {
    assert.throws(
      () => loadConfig({}, { BLOCKVAULT_LOG_LEVEL: 'x'.repeat(10_000) }),
      (err: unknown) => err instanceof InvalidArgumentError && err.message.length < 300,
    );
  });
});
