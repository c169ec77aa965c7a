/**
 * Golden output: what a person reads from each command in human mode, pinned as transcripts in
 * golden/ (embedded, --server, help). Uids, dates, timings and temp paths are replaced by
 * stand-ins of the same width, so columns stay as printed; images are deterministic, so sizes and
 * checksums are real. After a deliberate change of output: UPDATE_GOLDEN=1 npm test -w apps/cli,
 * then review the diff of golden/.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { BLOCKVAULT_BIN, cli, tempDir, type Run, type TempDir } from '@blockvault/testing';

const BS = 64 * 1024;
const GOLDEN = join(import.meta.dirname, 'golden');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/**
 * The CLI helper drops BLOCKVAULT_* (the embedded stores under --home). Colour off as in any pipe,
 * also under nx, which sets FORCE_COLOR (and Node warns when NO_COLOR is set beside it).
 */
const ENV = { FORCE_COLOR: '0' };

let dir: TempDir;

/** The JSON each command prints with --json, one definition per command (schemas/cli-json.schema.json). */
const SCHEMA = JSON.parse(await readFile(join(import.meta.dirname, '../schemas/cli-json.schema.json'), 'utf8')) as { $id: string };
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
ajv.addSchema(SCHEMA);

/** Asserts that the command succeeded and that its --json output is `$defs/def` of the schema. */
function assertShape(def: string, run: Run): void {
  assert.equal(run.code, 0, run.stderr);
  const validate = ajv.getSchema(`${SCHEMA.$id}#/$defs/${def}`)!;
  const value: unknown = JSON.parse(run.stdout);
  assert.ok(validate(value), `${def}: ${ajv.errorsText(validate.errors)}\n${run.stdout.slice(0, 2000)}`);
}

/** Deterministic bytes: AES-256-CTR of zeros under a fixed key, one stream per seed. */
function pseudoRandom(length: number, seed: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(seed);
  return createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), iv).update(Buffer.alloc(length));
}

/** Blocks: `r<n>` pseudo-random with seed n, `z` zeros, `t` text-like (compressible). */
function image(specs: readonly string[], tail = 0): Buffer {
  const text = Buffer.from('blockvault golden output '.repeat(Math.ceil(BS / 25)).slice(0, BS));
  const parts = specs.map((s) => (s === 'z' ? Buffer.alloc(BS) : s === 't' ? text : pseudoRandom(BS, Number(s.slice(1)))));
  return Buffer.concat([...parts, pseudoRandom(tail, 99)]);
}

/** A transcript of commands and what they printed, with every varying part replaced. */
class Transcript {
  readonly #lines: string[] = [];
  readonly #uids = new Map<string, string>();
  readonly #blobs = new Map<string, string>();

  async run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
    const r = await cli(args, undefined, { ...ENV, ...env });
    this.#lines.push(`$ blockvault ${this.normalize(args.join(' '))}`);
    if (r.stdout) this.#lines.push(this.normalize(r.stdout.trimEnd()));
    if (r.stderr)
      this.#lines.push(
        ...this.normalize(r.stderr.trimEnd())
          .split('\n')
          .map((l) => `stderr: ${l}`),
      );
    if (r.code !== 0) this.#lines.push(`exit ${r.code}`);
    this.#lines.push('');
    return r;
  }

  normalize(text: string): string {
    return text
      .replaceAll(dir.path, '/tmp/golden')
      .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:7070')
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, (uid) => this.#uid(uid))
      .replace(/\b[0-9a-f]{8}\b/g, (short) => {
        const full = [...this.#uids.keys()].find((u) => u.startsWith(short));
        return full ? this.#uids.get(full)!.slice(0, 8) : short;
      })
      .replace(/\b[0-9a-f]{32}\b/g, (blob) => this.#blob(blob))
      .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, '2026-01-01 00:00:00')
      .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '2026-01-01T00:00:00.000Z')
      .replace(/\b\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)\/s/g, '<rate>')
      .replace(/\b\d\.\d\d s\b/g, '0.00 s')
      .replace(/\b\d\d\.\d s\b/g, '00.0 s');
  }

  /** The k-th uid seen becomes kkkkkkkk-0000-4000-8000-000000000000 (same width). */
  #uid(uid: string): string {
    if (!this.#uids.has(uid)) {
      const k = (this.#uids.size + 1).toString(36);
      this.#uids.set(uid, `${k.repeat(8).slice(0, 8)}-0000-4000-8000-000000000000`);
    }
    return this.#uids.get(uid)!;
  }

  #blob(blob: string): string {
    if (!this.#blobs.has(blob)) this.#blobs.set(blob, `blob${this.#blobs.size + 1}`.padEnd(32, '0'));
    return this.#blobs.get(blob)!;
  }

  /** Compares with golden/NAME.txt (or writes it with UPDATE_GOLDEN=1). */
  async check(name: string): Promise<void> {
    const text = `${this.#lines.join('\n').trimEnd()}\n`;
    const file = join(GOLDEN, `${name}.txt`);
    if (UPDATE) await writeFile(file, text);
    assert.equal(text, await readFile(file, 'utf8'), `golden/${name}.txt differs (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
  }
}

/** The full uid of the newest version, from --json. */
async function newest(home: string[]): Promise<string> {
  const r = await cli([...home, '--json', 'ls'], undefined, ENV);
  return (JSON.parse(r.stdout) as { uid: string }[]).at(-1)!.uid;
}

before(async () => {
  dir = await tempDir();
  await writeFile(dir.file('vm1.img'), image(['r1', 'z', 'r2', 'r1', 't', 'z', 'r3'], 1234));
  await writeFile(dir.file('vm1-b.img'), image(['r1', 'z', 'r4', 'r1', 't', 'z', 'r3'], 1234));
});
after(() => dir.remove());

describe('golden output', () => {
  it('embedded: every command in human mode', async () => {
    const t = new Transcript();
    const home = ['--home', dir.file('home')];
    await t.run([...home, 'init', '--block-size', String(BS)]);
    await t.run([...home, 'backup', dir.url('vm1.img'), 'vm1', '--snapshot', 'monday']);
    const v1 = await newest(home);
    await t.run([...home, 'backup', dir.url('vm1-b.img'), 'vm1', '--snapshot', 'tuesday', '--tag', 'manual', '--expire', '2030-01-01']);
    const v2 = await newest(home);
    await t.run([...home, 'ls']);
    await t.run([...home, 'show', v1.slice(0, 8)]);
    await t.run([...home, 'show', v2, '--blocks']);
    await t.run([...home, 'stats']);
    await t.run([...home, 'du']);
    await t.run([...home, 'scrub', v1]);
    await t.run([...home, 'deep-scrub', v1, '--source', dir.url('vm1.img')]);
    await t.run([...home, 'deep-scrub', v1, '--source', dir.url('vm1-b.img')]);
    await t.run([...home, 'restore', v1.slice(0, 8), dir.url('out.img')]);
    await t.run([...home, 'restore', v1, dir.url('out.img')]);
    await t.run([...home, 'tag', 'add', v2, 'keep']);
    await t.run([...home, 'protect', v2]);
    await t.run([...home, 'expire', v1, '2031-06-01']);
    await t.run([...home, 'enforce', 'latest1', '--dry-run']);
    await t.run([...home, 'schedule', 'set', 'vm1', 'daily', '--interval', '1d', '--keep', '7', '--sla', '2h']);
    await t.run([...home, 'schedule', 'ls']);
    await t.run([...home, 'due']);
    await t.run([...home, 'sla']);
    await t.run([...home, 'rm', v2]);
    await t.run([...home, 'rm', v1, '--force']);
    await t.run([...home, 'cleanup', '--grace', '0', '--dry-run']);
    await t.run([...home, 'show', 'no-such-version']);
    await t.run([...home, 'backup', 'nfs://host/x', 'vm1']);
    await t.run([...home, 'ls']);
    await t.check('embedded');
  });

  it('embedded --json: every shape as the schema pins it', async () => {
    const home = ['--home', dir.file('json-home'), '--json'];
    const run = (...args: string[]): Promise<Run> => cli([...home, ...args], undefined, ENV);
    assertShape('init', await run('init', '--block-size', String(BS)));
    assertShape('backup', await run('backup', dir.url('vm1.img'), 'vm1', '--expire', '2030-01-01'));
    const uid = (JSON.parse((await run('ls')).stdout) as { uid: string }[])[0]!.uid;
    assertShape('ls', await run('ls'));
    assertShape('show', await run('show', uid));
    assertShape('show', await run('show', uid, '--blocks'));
    assertShape('stats', await run('stats'));
    assertShape('du', await run('du'));
    assertShape('scrub', await run('scrub', uid));
    assertShape('scrub', await run('deep-scrub', uid, '--source', dir.url('vm1.img')));
    assertShape('restore', await run('restore', uid, dir.url('json-out.img')));
    assertShape('enforce', await run('enforce', 'latest1', '--dry-run'));
    assertShape('cleanup', await run('cleanup', '--dry-run'));
  });

  describe('--server', () => {
    let serve: ChildProcess;
    let port = 0;
    before(async () => {
      // The same block size as the embedded repository, so that the same backup prints the same numbers.
      await cli(['--home', dir.file('served'), 'init', '--block-size', String(BS)], undefined, ENV);
      serve = spawn(process.execPath, [BLOCKVAULT_BIN, '--json', '--home', dir.file('served'), 'serve', '--listen', '127.0.0.1:0'], {
        env: ENV,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      port = await new Promise((done, fail) => {
        let out = '';
        serve.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.trimEnd().endsWith('}')) done((JSON.parse(out) as { port: number }).port);
        });
        serve.once('exit', (code) => fail(new Error(`serve exited with ${code}`)));
      });
    });
    after(async () => {
      const exited = new Promise((done) => serve.once('exit', done));
      serve.kill('SIGTERM');
      await exited;
    });

    it('prints what the embedded mode prints, and jobs as a table', async () => {
      const t = new Transcript();
      const server = ['--server', `127.0.0.1:${port}`];
      await t.run([...server, 'backup', dir.url('vm1.img'), 'vm1', '--snapshot', 'monday']);
      await t.run([...server, 'ls']);
      const uid = (JSON.parse((await cli([...server, '--json', 'ls'], undefined, ENV)).stdout) as { uid: string }[])[0]!.uid;
      await t.run([...server, 'scrub', uid.slice(0, 8)]);
      await t.run([...server, 'restore', uid, dir.url('out-server.img')]);
      await t.run([...server, 'restore', 'no-such-version', dir.url('never.img')]);
      await t.run([...server, 'cleanup', '--dry-run']);
      await t.run([...server, 'jobs', '--state', 'succeeded']);
      await t.run([...server, 'show', uid.slice(0, 8)]);
      await t.run([...server, 'stats']);
      await t.run([...server, 'du']);
      await t.run([...server, 'show', uid, '--blocks']);
      await t.run([...server, 'rm', uid]);
      await t.check('server');
    });

    it('--json: the embedded shapes, and jobs', async () => {
      const run = (...args: string[]): Promise<Run> => cli(['--server', `127.0.0.1:${port}`, '--json', ...args], undefined, ENV);
      assertShape('backup', await run('backup', dir.url('vm1-b.img'), 'vm2'));
      const listed = await run('ls', 'vm2');
      assertShape('ls', listed);
      const uid = (JSON.parse(listed.stdout) as { uid: string }[])[0]!.uid;
      assertShape('scrub', await run('scrub', uid));
      assertShape('restore', await run('restore', uid, dir.url('json-server-out.img')));
      assertShape('enforce', await run('enforce', 'latest5', '--dry-run'));
      assertShape('cleanup', await run('cleanup', '--dry-run'));
      assertShape('jobs', await run('jobs'));
      // What the job API reads is what the repository itself says.
      const local = (...args: string[]): Promise<Run> => cli(['--home', dir.file('served'), '--json', ...args], undefined, ENV);
      for (const args of [['show', uid], ['stats'], ['du'], ['du', uid.slice(0, 8)]]) {
        const remote = await run(...args);
        assertShape(args[0]!, remote);
        assert.deepEqual(JSON.parse(remote.stdout), JSON.parse((await local(...args)).stdout), args.join(' '));
      }
    });
  });

  it('help: the program, and a command with its examples', async () => {
    const t = new Transcript();
    await t.run(['--help']);
    await t.run(['help', 'backup']);
    await t.run(['help', 'show']);
    await t.check('help');
  });
});
