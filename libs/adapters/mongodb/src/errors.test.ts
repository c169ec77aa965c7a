import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MongoNetworkError } from 'mongodb';
import { UnavailableError } from '@blockvault/core';
import { translate } from './errors.ts';

/** Node's own error for a write to a socket whose peer has closed it, as net.Socket makes it. */
function endedByPeer(): NodeJS.ErrnoException {
  return Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
}

describe('translate', () => {
  it('calls a socket the database closed (EPIPE, unwrapped by the driver) unavailable, so the call is retried', async () => {
    // A CI run of the fault suite saw this reach the metadata service's client as INTERNAL when FerretDB was killed.
    await assert.rejects(
      translate(() => Promise.reject(endedByPeer())),
      (err: unknown) => err instanceof UnavailableError && /unreachable: This socket has been ended/.test(err.message),
    );
  });

  it("calls the driver's network errors unavailable", async () => {
    await assert.rejects(
      translate(() => Promise.reject(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'))),
      UnavailableError,
    );
  });

  it('passes other errors through as they are', async () => {
    const bug = new TypeError('x is not a function');
    await assert.rejects(
      translate(() => Promise.reject(bug)),
      (err: unknown) => err === bug,
    );
  });
});
