import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { hostname } from 'node:os';
import { VersionLockedError, type Clock } from '@blockvault/core';
import { tempDir } from '@blockvault/testing';
import { SqliteLocks } from './sqlite-locks.ts';

const dir = await tempDir();
after(() => dir.remove());

describe('SqliteLocks', () => {
  it('refuses a held lock and grants it again once released', async () => {
    const locks = new SqliteLocks(dir.file('a.sqlite'), { now: () => new Date() });
    const lease = await locks.acquire('version:x', { owner: 'first' });
    await assert.rejects(
      locks.acquire('version:x', { owner: 'second' }),
      (err: unknown) => err instanceof VersionLockedError && /first/.test(err.message),
    );
    await lease.release();
    await (await locks.acquire('version:x', { owner: 'second' })).release();
    locks.close();
  });

  it('takes over a lease whose holder is not renewing once its TTL has passed', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const clock: Clock = { now: () => now };
    const locks = new SqliteLocks(dir.file('b.sqlite'), clock);
    const db = new DatabaseSync(dir.file('b.sqlite'));
    // A holder on another host (its liveness cannot be checked from here).
    db.prepare('INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)').run('version:y', 'remote', 't', 'other-host', 1, now.getTime() + 60_000);
    await assert.rejects(locks.acquire('version:y', { owner: 'me' }), VersionLockedError);
    now = new Date(now.getTime() + 60_001);
    await (await locks.acquire('version:y', { owner: 'me' })).release();
    db.close();
    locks.close();
  });

  it('takes over at once a lease whose holder process on this host is gone (a killed backup)', async () => {
    const locks = new SqliteLocks(dir.file('c.sqlite'), { now: () => new Date() });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const db = new DatabaseSync(dir.file('c.sqlite'));
    db.prepare('INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?)').run(
      'version:z',
      'killed',
      't',
      hostname(),
      Number(dead.stdout),
      Date.now() + 3_600_000,
    );
    await (await locks.acquire('version:z', { owner: 'me' })).release();
    db.close();
    locks.close();
  });
});
