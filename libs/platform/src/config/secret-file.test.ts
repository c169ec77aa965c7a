import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '@blockvault/core';
import { readSecret } from './security.ts';

const asRoot = process.getuid?.() === 0;

describe('readSecret (files that hold tokens and keys)', () => {
  it('reads a 600 file, refuses one others may read, and never shows the content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bv-secret-'));
    const file = join(dir, 'token');
    await writeFile(file, 'sekrit', { mode: 0o600 });
    assert.equal(readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', file), 'sekrit');
    await chmod(file, 0o644);
    assert.throws(
      () => readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', file),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /BLOCKVAULT_CLUSTER_TOKEN_FILE .*\(mode 644\)/.test(e.message) &&
        !e.message.includes('sekrit'),
    );
    await rm(dir, { recursive: true });
  });

  it(
    'takes a group-readable file that root owns (a Kubernetes Secret for a non-root pod), not one a user owns',
    { skip: !asRoot && 'needs root to own the files' },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'bv-secret-'));
      const file = join(dir, 'token');
      await writeFile(file, 'sekrit', { mode: 0o440 });
      await chown(file, 0, 1000);
      assert.equal(readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', file), 'sekrit');
      await chmod(file, 0o660);
      assert.throws(() => readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', file), /mode 660\).*640 at most/);
      await chmod(file, 0o640);
      await chown(file, 1000, 1000);
      assert.throws(() => readSecret('BLOCKVAULT_CLUSTER_TOKEN_FILE', file), /mode 640/);
      await rm(dir, { recursive: true });
    },
  );
});
