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
import { codeOfStatus, fromServiceError, toServiceError } from './index.ts';

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

  it('rebuilds the same domain error class, subject and message from the trailers', () => {
    for (const err of [new VersionNotFoundError('v-1'), new VersionInUseError('v-2'), new SessionExpiredError('s-3')]) {
      const back = fromServiceError(toServiceError(err), 'svc');
      assert.equal(back.constructor, err.constructor);
      assert.equal(back.message, err.message);
    }
  });
});
