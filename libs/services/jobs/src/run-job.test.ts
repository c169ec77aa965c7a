/** What a job's request becomes on the repository: defaults that an absent field must not turn into 0. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_GRACE_SECONDS, type CleanupOptions, type Repository } from '@blockvault/core';
import { JobState, SubmitJobRequest, type Job } from '@blockvault/proto';
import { runJob } from './run-job.ts';

function job(request: SubmitJobRequest): Job {
  return {
    id: 'j1',
    type: 'cleanup',
    state: JobState.JOB_STATE_RUNNING,
    submitted: '',
    started: '',
    finished: '',
    attempts: 1,
    worker: '',
    versionUid: '',
    resultJson: '',
    error: '',
    errorCode: '',
    request,
    cancelRequested: false,
  };
}

/** The cleanup options a job reaches the repository with. */
async function cleanupOptions(request: SubmitJobRequest): Promise<CleanupOptions> {
  let seen: CleanupOptions | undefined;
  const repo = {
    cleanup: async (o: CleanupOptions) => {
      seen = o;
      return { cutoff: new Date(0) };
    },
  } as unknown as Repository;
  // Through the wire format, as a gRPC client sends it.
  await runJob(repo, job(SubmitJobRequest.decode(SubmitJobRequest.encode(request).finish())));
  return seen!;
}

describe('runJob', () => {
  it('a cleanup without grace_seconds uses the documented default; an explicit 0 stays 0', async () => {
    assert.equal(
      (await cleanupOptions({ requestId: 'a', cleanup: { full: false, prefix: '', dryRun: true } })).graceSeconds,
      DEFAULT_GRACE_SECONDS,
    );
    assert.equal(
      (await cleanupOptions({ requestId: 'b', cleanup: { graceSeconds: 0, full: false, prefix: '', dryRun: true } })).graceSeconds,
      0,
    );
    assert.equal(
      (await cleanupOptions({ requestId: 'c', cleanup: { graceSeconds: 60, full: false, prefix: '', dryRun: true } })).graceSeconds,
      60,
    );
  });
});
