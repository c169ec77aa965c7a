import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { send } from './streams.ts';

/** An object stream that holds one message and takes no more until `take` is called. */
function full(): { stream: Writable; take: () => void } {
  let next: (() => void) | undefined;
  const stream = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write: (_m: unknown, _enc, done) => {
      next = done;
    },
  });
  return { stream, take: () => next?.() };
}

describe('send', () => {
  it('resolves true at once while the stream takes more, and once it drains', async () => {
    const { stream, take } = full();
    const waiting = send(stream, 'a');
    take();
    assert.equal(await waiting, true);
  });

  it('resolves false when a full stream goes away instead of draining (a peer that cancelled)', async () => {
    const { stream } = full();
    const waiting = send(stream, 'a');
    stream.emit('cancelled');
    assert.equal(await waiting, false);
    assert.equal(stream.listenerCount('drain'), 0, 'no listener is left behind');
    stream.destroy();
    assert.equal(await send(stream, 'b'), false, 'a destroyed stream takes nothing');
  });

  it('resolves false when a full stream is destroyed', async () => {
    const { stream } = full();
    const waiting = send(stream, 'a');
    stream.destroy();
    assert.equal(await waiting, false);
  });
});
