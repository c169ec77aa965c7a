/**
 * One engine operation in its own process, so that its peak RSS is its own:
 *   node worker.ts backup HOME SOURCE_PATH NAME [FROM_UID HINTS_FILE]
 *   node worker.ts restore HOME UID TARGET_PATH [sparse]
 * Prints one JSON line: {seconds, cpuSeconds, maxRssMiB, ...}. Blob transforms come from the
 * environment (BLOCKVAULT_COMPRESSION, BLOCKVAULT_ENCRYPTION_KEY_FILE), and so do the stores: with
 * BLOCKVAULT_MONGO_URL or BLOCKVAULT_S3_* set, the repository they name (the embedded mode on real
 * stores), else the embedded ones under HOME.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseHints } from '@blockvault/core';
import { loadConfig, openEmbedded, openRepository } from '@blockvault/platform';

const [op, home, ...args] = process.argv.slice(2);
const config = loadConfig({ home: home as string });
const { metadata, blobs } = config.stores;
const configured = metadata.mongo !== undefined || blobs.s3 !== undefined;
const repo = configured
  ? await openRepository(config)
  : // None configured (BLOCKVAULT_COMPRESSION=none, no key file) is an empty setting, not the defaults.
    await openEmbedded({ home: home as string, transforms: config.stores.transforms ?? {} });
const cpu0 = process.cpuUsage();
const started = performance.now();
let result: Record<string, unknown>;
if (op === 'backup') {
  const [source, name, fromUid, hintsFile] = args as [string, string, string?, string?];
  const hints = hintsFile ? parseHints(await readFile(hintsFile, 'utf8')) : undefined;
  const r = await repo.repository.backup({ source: `file://${source}`, name, fromUid, hints });
  result = { uid: r.version.uid, sizeBytes: r.version.sizeBytes, stats: r.stats };
} else if (op === 'restore') {
  const [uid, target, mode] = args as [string, string, string?];
  const r = await repo.repository.restore({ uid, target: `file://${target}`, force: true, sparse: mode === 'sparse' });
  result = { sizeBytes: r.version.sizeBytes, damaged: r.damagedBlocks.length };
} else {
  throw new Error(`unknown op ${op}`);
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
result['cpuSeconds'] = (cpu.user + cpu.system) / 1e6;
if ('sizeBytes' in repo.metadata) result['metadataBytes'] = repo.metadata.sizeBytes();
await repo.close();
// VmHWM, not getrusage's maxRSS: Linux carries ru_maxrss across execve, so it would report the
// parent's (the bench's) peak instead of this process's.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ ...result, seconds, maxRssMiB: Number(hwm?.[1]) / 1024 }));
