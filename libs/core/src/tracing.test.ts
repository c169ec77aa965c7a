import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { BlockTrace, inSpan, SPAN } from './tracing.ts';

const exporter = new InMemorySpanExporter();

before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
});
after(() => {
  trace.disable();
  context.disable();
});

describe('block tracing', () => {
  it('a sampled block has its span and child steps under the active span; an unsampled one has none', async () => {
    exporter.reset();
    await inSpan(SPAN.backup, {}, async () => {
      const sampled = new BlockTrace(true, { 'blockvault.block.index': 1 });
      await sampled.step(SPAN.read, async () => undefined);
      sampled.end();
      const skipped = new BlockTrace(false, { 'blockvault.block.index': 2 });
      await skipped.step(SPAN.read, async () => undefined);
      skipped.end();
    });
    const spans = exporter.getFinishedSpans();
    const backup = spans.find((s) => s.name === SPAN.backup)!;
    const blocks = spans.filter((s) => s.name === SPAN.block);
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0]!.attributes['blockvault.block.index'], 1);
    assert.equal(blocks[0]!.parentSpanContext?.spanId, backup.spanContext().spanId);
    const read = spans.find((s) => s.name === SPAN.read)!;
    assert.equal(read.parentSpanContext?.spanId, blocks[0]!.spanContext().spanId);
  });

  it('a failed block is always recorded, sampled or not, with its error and start time', async () => {
    exporter.reset();
    const startedBefore = Date.now();
    await inSpan(SPAN.backup, {}, async () => {
      const unsampled = new BlockTrace(false, { 'blockvault.block.index': 7 });
      unsampled.end(new Error('read failed'));
    });
    const [block] = exporter.getFinishedSpans().filter((s) => s.name === SPAN.block);
    assert.ok(block, 'the failure made a span');
    assert.equal(block.status.code, SpanStatusCode.ERROR);
    assert.equal(block.status.message, 'read failed');
    assert.equal(block.attributes['blockvault.block.index'], 7);
    assert.ok(block.events.some((e) => e.name === 'exception'));
    assert.ok(block.startTime[0] * 1000 >= startedBefore - 1000);
  });
});
