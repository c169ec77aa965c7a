/** Option and argument parsers shared by the commands: each names what it expects. */
import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { InvalidArgumentError } from '@blockvault/core';

export function parseDate(value: string): Date {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new InvalidArgumentError(`invalid date ${JSON.stringify(value)}: use ISO 8601, e.g. 2026-12-31 or 2026-12-31T18:00:00Z`);
  }
  return new Date(ms);
}

export function parseBlockId(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected a block id (a non-negative integer)');
  return Number(value);
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new CommanderArgumentError('expected a positive integer');
  return Number(value);
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function parsePercent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new CommanderArgumentError('expected a percentage in (0, 100]');
  return n;
}

export function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected whole seconds');
  return Number(value);
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderArgumentError('expected a non-negative integer');
  return Number(value);
}

/** `host:port` (port 0: any free port) as the listen options take it. */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new CommanderArgumentError('expected host:port, e.g. 127.0.0.1:10809');
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** The help text of a version argument: every command takes a unique prefix of the uid. */
export const UID_ARGUMENT = 'version uid, or a unique prefix of it (at least 4 characters, as `ls` shows)';
