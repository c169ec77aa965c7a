/**
 * Shell completion as a user gets it: `blockvault completion bash|zsh` sourced into a real bash
 * (with Debian's bash-completion) and zsh, each asking the binary on PATH for the words.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { BLOCKVAULT_BIN, cli, installShells, tempDir, type TempDir } from '@blockvault/testing';

let dir: TempDir;
let path: string;

before(async () => {
  installShells();
  dir = await tempDir();
  // `blockvault` on PATH, as an installed CLI is: the scripts call it by name.
  await writeFile(dir.file('blockvault'), `#!/bin/sh\nexec '${process.execPath}' '${BLOCKVAULT_BIN}' "$@"\n`);
  await chmod(dir.file('blockvault'), 0o755);
  path = `${dir.path}:${process.env['PATH'] ?? ''}`;
});
after(() => dir.remove());

/** What bash completes for `line` (the cursor at its end), through the sourced script. */
function bashCompletes(line: string): string[] {
  const words = line.split(' ');
  const script = [
    'source /usr/share/bash-completion/bash_completion',
    'source <(blockvault completion bash)',
    'fn=$(complete -p blockvault | sed -E "s/.* -F ([^ ]+) .*/\\1/")',
    `COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}`,
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}`,
    '"$fn" 2>/dev/null',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['-c', script], { env: { ...process.env, PATH: path }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

describe('blockvault completion', () => {
  it('bash completes commands, subcommands and options from the command tree', () => {
    assert.deepEqual(bashCompletes('blockvault res'), ['restore']);
    assert.deepEqual(bashCompletes('blockvault tag '), ['add', 'rm', 'help']);
    assert.deepEqual(bashCompletes('blockvault restore --sp'), ['--sparse']);
    assert.ok(bashCompletes('blockvault backup --').includes('--continue'));
    assert.ok(bashCompletes('blockvault ').includes('completion'), 'every command, completion too');
  });

  it('zsh loads the script and registers the completion function', () => {
    const script = 'autoload -U compinit && compinit -u && source <(blockvault completion zsh) && print -r -- ${_comps[blockvault]}';
    const r = spawnSync('zsh', ['-f', '-c', script], { env: { ...process.env, PATH: path }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '_blockvault');
  });

  it('the hidden complete command answers the words the scripts ask for', async () => {
    const r = await cli(['complete', '--', 'schedule', '']);
    assert.equal(r.code, 0, r.stderr);
    const words = r.stdout.split('\n').map((l) => l.split('\t')[0]);
    assert.deepEqual(words.filter((w) => w && !w.startsWith(':')).sort(), ['help', 'ls', 'rm', 'set']);
  });

  it('an unknown shell is a usage error naming the choices', async () => {
    const r = await cli(['completion', 'tcsh']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /zsh, bash, fish, powershell|"zsh", "bash"/);
  });
});
