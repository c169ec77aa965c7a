/**
 * One engine operation in its own process, so that its peak RSS is its own:
 *   node worker.ts backup HOME SOURCE_PATH NAME [FROM_UID HINTS_FILE]
 *   node worker.ts restore HOME UID TARGET_PATH
 * Prints one JSON line: {seconds, maxRssMiB, ...}.
 */
import { readFile } from 'node:fs/promises';
import { parseHints } from '@blockvault/core';
import { openEmbedded } from '@blockvault/platform';

const [op, home, ...args] = process.argv.slice(2);
const repo = await openEmbedded({ home: home as string });
const started = performance.now();
let result: Record<string, unknown>;
if (op === 'backup') {
  const [source, name, fromUid, hintsFile] = args as [string, string, string?, string?];
  const hints = hintsFile ? parseHints(await readFile(hintsFile, 'utf8')) : undefined;
  const r = await repo.repository.backup({ source: `file://${source}`, name, fromUid, hints });
  result = { uid: r.version.uid, sizeBytes: r.version.sizeBytes, stats: r.stats };
} else if (op === 'restore') {
  const [uid, target] = args as [string, string];
  const r = await repo.repository.restore({ uid, target: `file://${target}`, force: true });
  result = { sizeBytes: r.version.sizeBytes, damaged: r.damagedBlocks.length };
} else {
  throw new Error(`unknown op ${op}`);
}
const seconds = (performance.now() - started) / 1000;
result['metadataBytes'] = repo.metadata.sizeBytes();
await repo.close();
console.log(JSON.stringify({ ...result, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
