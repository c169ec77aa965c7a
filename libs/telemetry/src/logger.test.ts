import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from './logger.ts';

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (d: Buffer) => chunks.push(d.toString()));
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logger', () => {
  it('writes JSON with the service and module, and redacts secrets wherever they are logged', () => {
    const out = capture();
    const log = createLogger('blockvault-test', { destination: out.stream }).child({ module: 'unit' });
    log.info({ token: 'bvt_secret', s3: { secretKey: 'abc', accessKey: 'AK' }, nats: { pass: 'pw' }, jobId: 'j1' }, 'hello');
    const [line] = out.lines();
    assert.equal(line!['service'], 'blockvault-test');
    assert.equal(line!['module'], 'unit');
    assert.equal(line!['jobId'], 'j1');
    const text = JSON.stringify(line);
    for (const secret of ['bvt_secret', '"abc"', '"AK"', '"pw"']) assert.ok(!text.includes(secret), `${secret} redacted`);
    assert.equal(line!['token'], '[redacted]');
    assert.equal(line!['trace_id'], undefined, 'no trace ids outside a span');
  });
});
