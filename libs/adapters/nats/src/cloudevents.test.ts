/** The CloudEvents envelope and proto/asyncapi.yaml: what a subscriber of the event stream relies on. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InvalidArgumentError, type BlockvaultEvent } from '@blockvault/core';
import { ASYNCAPI_PATH, eventContract, tempDir } from '@blockvault/testing';
import { CLOUDEVENTS_CONTENT_TYPE, decodeEvent, encodeEvent, eventSource } from './cloudevents.ts';

const SOURCE = eventSource('prod-eu', 'worker');
const HEADERS = { 'content-type': CLOUDEVENTS_CONTENT_TYPE };
const contract = eventContract();
const stats = {
  bytesRead: 10,
  blocksRead: 1,
  bytesWritten: 10,
  blocksWritten: 1,
  bytesDedup: 0,
  blocksDedup: 0,
  bytesSparse: 0,
  blocksSparse: 0,
  bytesChecked: 0,
  blocksChecked: 0,
  durationSeconds: 0.5,
};
const progress = { versionUid: 'v1', blocksDone: 1, blocksTotal: 2, bytesDone: 10, bytesPerSecond: 20, etaSeconds: null, jobId: 'j1' };
/** One event of each kind, with every field the engine and the services put on it. */
const SAMPLES: BlockvaultEvent[] = [
  { kind: 'version.created', versionUid: 'v1', name: 'vm1', sizeBytes: 20, jobId: 'j1' },
  { kind: 'backup.progress', operation: 'backup', ...progress },
  { kind: 'backup.completed', versionUid: 'v1', name: 'vm1', stats, jobId: 'j1' },
  { kind: 'backup.failed', versionUid: 'v1', name: 'vm1', error: 'disk gone', code: 'UNAVAILABLE', jobId: 'j1' },
  { kind: 'backup.cancelled', versionUid: 'v1', name: 'vm1', error: 'cancelled', code: 'CANCELLED' },
  { kind: 'restore.progress', operation: 'restore', ...progress },
  { kind: 'restore.completed', versionUid: 'v1', target: 'file:///tmp/x', damagedBlocks: 0 },
  { kind: 'restore.failed', versionUid: 'v1', target: 'file:///tmp/x', error: 'no space', code: 'UNAVAILABLE' },
  { kind: 'restore.cancelled', versionUid: 'v1', target: 'file:///tmp/x', error: 'cancelled', code: 'CANCELLED', jobId: 'j2' },
  { kind: 'scrub.completed', versionUid: 'v1', deep: true, damagedBlocks: 1, sourceMismatches: 0, valid: false },
  { kind: 'blob.invalid', blobUid: 'b1', checksum: 'ab12', versions: ['v1', 'v2'] },
  {
    kind: 'cleanup.completed',
    cutoff: new Date(0).toISOString(),
    candidates: 2,
    spared: 1,
    blobsDeleted: 1,
    bytesDeleted: 10,
    orphansDeleted: 0,
    strayObjectsDeleted: 0,
    segmentsDeleted: 1,
    dryRun: false,
  },
  { kind: 'version.removed', versionUid: 'v1', name: 'vm1' },
  { kind: 'version.imported', versionUid: 'v1', name: 'vm1' },
  { kind: 'version.metadata-copy-failed', versionUid: 'v1', error: 'S3 down', code: 'UNAVAILABLE', jobId: 'j1' },
  { kind: 'job.completed', jobId: 'j1', type: 'backup', versionUid: 'v1' },
  { kind: 'job.failed', jobId: 'j1', type: 'cleanup', error: 'lock held', code: 'CONFLICT' },
  { kind: 'job.cancelled', jobId: 'j1', type: 'backup', versionUid: 'v1', error: 'cancelled', code: 'CANCELLED' },
  { kind: 'sla.breach', name: 'vm1', scheduler: 'daily', breaches: ['too few backups'] },
  { kind: 'keys.rekeyed', masterKey: 'k2', rewrapped: 3 },
];

function published(event: BlockvaultEvent, headers: Record<string, string> = HEADERS) {
  return {
    subject: `blockvault.events.${event.kind}`,
    payload: encodeEvent(event, { id: 'e1', source: SOURCE, time: new Date('2026-12-01T10:00:00Z') }),
    headers,
  };
}

describe('events as CloudEvents', () => {
  it('a structured-mode CloudEvent: type, subject, dataschema and the fields under data', () => {
    const json = JSON.parse(
      encodeEvent(
        { kind: 'backup.completed', versionUid: 'v1', name: 'vm1', stats, jobId: 'j1' },
        {
          id: 'e1',
          source: SOURCE,
          time: new Date('2026-12-01T10:00:00Z'),
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
      ),
    ) as Record<string, unknown>;
    assert.deepEqual(json, {
      specversion: '1.0',
      id: 'e1',
      source: 'urn:blockvault:prod-eu:worker',
      type: 'io.blockvault.backup.completed',
      time: '2026-12-01T10:00:00.000Z',
      subject: 'v1',
      datacontenttype: 'application/json',
      dataschema: 'urn:blockvault:events:2:backup.completed',
      data: { versionUid: 'v1', name: 'vm1', stats, jobId: 'j1' },
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
  });

  it("a job's events have the job as subject; a blob's the blob; a schedule's its name", () => {
    const subject = (e: BlockvaultEvent): unknown => (JSON.parse(published(e).payload) as { subject?: string }).subject;
    assert.equal(subject({ kind: 'job.completed', jobId: 'j1', type: 'backup', versionUid: 'v1' }), 'j1');
    assert.equal(subject({ kind: 'blob.invalid', blobUid: 'b1', checksum: 'ab', versions: [] }), 'b1');
    assert.equal(subject({ kind: 'sla.breach', name: 'vm1', scheduler: 'daily', breaches: [] }), 'vm1');
    assert.equal(subject({ kind: 'keys.rekeyed', masterKey: 'k', rewrapped: 0 }), undefined);
  });

  it('decodes to the event as published, with its id, source and time', () => {
    const event = { kind: 'restore.completed', versionUid: 'v1', target: 'file:///x', damagedBlocks: 0, jobId: 'j' };
    assert.deepEqual(decodeEvent(published(event).payload), {
      ...event,
      id: 'e1',
      source: 'urn:blockvault:prod-eu:worker',
      time: '2026-12-01T10:00:00.000Z',
    });
  });

  it('reads a schema version 1 event still in the stream from before an upgrade', () => {
    const v1 = JSON.stringify({
      schemaVersion: 1,
      time: '2026-11-01T00:00:00.000Z',
      kind: 'version.removed',
      versionUid: 'v1',
      name: 'vm1',
    });
    assert.deepEqual(decodeEvent(v1), {
      kind: 'version.removed',
      versionUid: 'v1',
      name: 'vm1',
      id: '',
      source: '',
      time: '2026-11-01T00:00:00.000Z',
    });
  });

  it("refuses what is not a CloudEvent of Blockvault's, and a source that is not a name", () => {
    assert.throws(() => decodeEvent('{"kind":"backup.completed","forged":true}'), InvalidArgumentError);
    assert.throws(() => decodeEvent('not json'), InvalidArgumentError);
    const foreign = JSON.stringify({ specversion: '1.0', id: '1', source: 'urn:x', type: 'com.example.thing' });
    assert.throws(() => decodeEvent(foreign), /not a Blockvault event type: com.example.thing/);
    assert.throws(() => eventSource('prod eu', 'worker'), /deployment must be/);
  });
});

describe('proto/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3.0 document', () => {
    assert.deepEqual(contract.documentProblems(), []);
  });

  it('finds a broken document invalid', async () => {
    const dir = await tempDir();
    try {
      const broken = dir.file('asyncapi.yaml');
      writeFileSync(broken, readFileSync(ASYNCAPI_PATH, 'utf8').replace('action: receive', 'action: listen'));
      assert.notDeepEqual(eventContract(broken).documentProblems(), []);
    } finally {
      await dir.remove();
    }
  });

  it('lists every kind, and describes one event of each exactly', () => {
    assert.deepEqual([...contract.kinds].sort(), SAMPLES.map((e) => e.kind).sort());
    for (const event of SAMPLES) assert.deepEqual(contract.problems(published(event)), [], event.kind);
  });

  it('finds each way an event breaks it: an undocumented field, a wrong code, a missing header, an unknown kind', () => {
    const problems = (e: BlockvaultEvent, headers?: Record<string, string>): string[] => contract.problems(published(e, headers));
    assert.match(problems({ ...SAMPLES[0]!, extra: 1 }).join(), /data.extra is not in the document/);
    assert.match(problems({ kind: 'backup.failed', versionUid: 'v', name: 'n', error: 'x', code: 'CANCELLED' }).join(), /code/);
    assert.match(problems({ kind: 'backup.progress', ...progress, operation: 'restore' }).join(), /operation/);
    assert.match(problems({ kind: 'version.removed', versionUid: 'v1' }).join(), /name/);
    assert.match(problems(SAMPLES[0]!, {}).join(), /content-type/);
    assert.match(problems({ kind: 'nobody.knows' }).join(), /not in the document/);
  });
});
