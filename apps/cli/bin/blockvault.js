#!/usr/bin/env node
// Blockvault runs its TypeScript sources directly (Node's built-in type stripping).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `blockvault: Node ${process.versions.node} is too old; it needs Node >= 22.18 (24 LTS recommended).\n` +
      'Run it through `npx blockvault` or `npm run` in the repository, which use the Node 24 that `npm ci` installs.\n',
  );
  process.exit(2);
}
await import('../src/main.ts');
