import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  BlobNotFoundError,
  InvalidArgumentError,
  NotFoundError,
  SessionExpiredError,
  UnavailableError,
  VersionInUseError,
  VersionLockedError,
  VersionNotFoundError,
} from '@blockvault/core';
import { codeOfStatus, fromServiceError, readable, toServiceError } from './index.ts';

describe('gRPC edge errors', () => {
  it('maps domain errors to statuses and back to the same kind', () => {
    const cases = [
      new InvalidArgumentError('bad'),
      new NotFoundError('gone'),
      new VersionLockedError('version:x', 'someone'),
      new UnavailableError('down'),
    ];
    for (const err of cases) {
      const status = toServiceError(err);
      assert.equal(status.details, err.message);
      assert.equal(fromServiceError(status, 'svc').code, err.code);
      assert.equal(codeOfStatus(status.code), err.code);
    }
  });

  it('answers INTERNAL for errors that are not ours, and NOT_FOUND of a blob becomes BlobNotFoundError', () => {
    assert.equal(toServiceError(new TypeError('oops')).code, grpc.status.INTERNAL);
    assert.ok(fromServiceError(toServiceError(new NotFoundError('x')), 'svc', 'abcd1234') instanceof BlobNotFoundError);
  });

  it("says a lost connection in one line, without grpc-js's empty resolution note", () => {
    const lost = 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7071. Resolution note: ';
    assert.equal(readable(lost), 'no connection established (connect ECONNREFUSED 127.0.0.1:7071)');
    const err = fromServiceError(
      Object.assign(new Error(lost), { code: grpc.status.UNAVAILABLE, details: lost, metadata: new grpc.Metadata() }),
      'reader service 127.0.0.1:7071',
    );
    assert.ok(err instanceof UnavailableError);
    assert.equal(err.message, 'reader service 127.0.0.1:7071: no connection established (connect ECONNREFUSED 127.0.0.1:7071)');
    assert.equal(readable('Connection dropped'), 'Connection dropped');
  });

  it('rebuilds the same domain error class, subject and message from the trailers', () => {
    for (const err of [new VersionNotFoundError('v-1'), new VersionInUseError('v-2'), new SessionExpiredError('s-3')]) {
      const back = fromServiceError(toServiceError(err), 'svc');
      assert.equal(back.constructor, err.constructor);
      assert.equal(back.message, err.message);
    }
  });
});
