/** The EventBus contract: the in-process bus and NATS run this suite. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlockvaultEvent, EventBus } from '@blockvault/core';

/** Resolves with the first `n` events `kind` delivers (fails after `ms`). */
export function collect(bus: EventBus, kind: string, n: number, ms = 5000): { events: Promise<BlockvaultEvent[]>; stop: () => void } {
  const got: BlockvaultEvent[] = [];
  let stop = (): void => undefined;
  const events = new Promise<BlockvaultEvent[]>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`only ${got.length} of ${n} ${kind} events arrived within ${ms} ms`)), ms);
    stop = bus.subscribe(kind, (e) => {
      got.push(e);
      if (got.length === n) {
        clearTimeout(timer);
        done(got);
      }
    });
  });
  return { events, stop: () => stop() };
}

export function eventsContract(name: string, open: () => Promise<EventBus>): void {
  describe(`EventBus contract: ${name}`, () => {
    it('keeps the newest events for `recent`, oldest first, each with a unique id and its time', async () => {
      const bus = await open();
      const before = Date.now() - 1000;
      const marker = `recent-${Math.random().toString(36).slice(2)}`;
      for (let i = 0; i < 5; i++) bus.publish({ kind: 'scrub.completed', versionUid: `${marker}-${i}` });
      await bus.flush?.();
      const recent = await bus.recent!(3);
      assert.deepEqual(
        recent.map((e) => [e.kind, e['versionUid']]),
        [2, 3, 4].map((i) => ['scrub.completed', `${marker}-${i}`]),
      );
      assert.equal(new Set(recent.map((e) => e.id)).size, 3);
      for (const e of recent) assert.ok(Date.parse(e.time) >= before, e.time);
      assert.deepEqual(await bus.recent!(0), []);
    });

    it('a subscriber of a kind gets that kind only, in order; a * subscriber gets everything', async () => {
      const bus = await open();
      const completed = collect(bus, 'backup.completed', 2);
      const all = collect(bus, '*', 3);
      await bus.flush?.();
      bus.publish({ kind: 'backup.completed', versionUid: 'a' });
      bus.publish({ kind: 'backup.failed', versionUid: 'b' });
      bus.publish({ kind: 'backup.completed', versionUid: 'c' });
      await bus.flush?.();
      assert.deepEqual(
        (await completed.events).map((e) => e['versionUid']),
        ['a', 'c'],
      );
      assert.deepEqual(
        (await all.events).map((e) => e.kind),
        ['backup.completed', 'backup.failed', 'backup.completed'],
      );
      completed.stop();
      all.stop();
    });

    it('unsubscribing stops delivery; publishing with no subscriber is fine', async () => {
      const bus = await open();
      let count = 0;
      const stop = bus.subscribe('scrub.completed', () => count++);
      await bus.flush?.();
      bus.publish({ kind: 'scrub.completed' });
      const after = collect(bus, 'scrub.completed', 1);
      await bus.flush?.();
      bus.publish({ kind: 'scrub.completed' });
      await bus.flush?.();
      await after.events;
      after.stop();
      stop();
      await bus.flush?.();
      const before = count;
      const last = collect(bus, 'scrub.completed', 1);
      await bus.flush?.();
      bus.publish({ kind: 'scrub.completed' });
      await bus.flush?.();
      await last.events;
      last.stop();
      assert.equal(count, before, 'the unsubscribed handler saw nothing more');
      bus.publish({ kind: 'nobody.listens' });
      await bus.flush?.();
    });
  });
}
