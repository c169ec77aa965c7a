import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsupportedUrlError } from './errors.ts';
import { IoRegistry } from './io-registry.ts';
import type { IoModule } from './ports.ts';

const fake = (scheme: string): IoModule => ({
  scheme,
  openSource: () => Promise.reject(new Error('unused')),
  openTarget: () => Promise.reject(new Error('unused')),
});
const registry = new IoRegistry([fake('file'), fake('rbd')]);

describe('IoRegistry', () => {
  it('chooses the module by scheme', () => {
    assert.equal(registry.resolve('file:///var/lib/vm1.img').module.scheme, 'file');
    assert.equal(registry.resolve('rbd://pool/img@snap').url.hostname, 'pool');
  });

  it('refuses what is not a plain URL of a known scheme, naming the schemes it knows', () => {
    const cases: [string, RegExp][] = [
      ['/var/lib/vm1.img', /not a URL; use file:\/\/\.\.\. or rbd:\/\/\.\.\./],
      ['nfs://host/x', /scheme nfs: is not supported/],
      ['file:///x?y=1', /query/],
      ['file:///x#frag', /fragment/],
      ['file:///x;type=a', /params/],
      ['rbd://user:pw@pool/x@s', /credentials/],
      ['file:///srv/../etc/shadow', /\.\. segments/],
      ['file:///srv/./x', /\.\. segments/],
      ['rbd://pool/%2e%2e/x@s', /\.\. segments/],
    ];
    for (const [raw, message] of cases)
      assert.throws(
        () => registry.resolve(raw),
        (e: unknown) => e instanceof UnsupportedUrlError && message.test(e.message),
        raw,
      );
  });
});
