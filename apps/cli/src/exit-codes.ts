import { ErrorCode, isBlockvaultError } from '@blockvault/core';

/** The CLI's exit codes; documented in README.md and `blockvault --help`. */
export const ExitCode = {
  Ok: 0,
  Internal: 1,
  Usage: 2,
  NotFound: 3,
  Conflict: 4,
  Integrity: 5,
  Unavailable: 6,
  SlaBreached: 7,
  Unauthenticated: 8,
  Cancelled: 9,
} as const;

export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  invalid usage or argument (bad URL, bad hints, unknown option)
  3  not found (version, source, blob)
  4  conflict (target exists, version locked or protected, wrong state)
  5  integrity (sanity check failed; damaged blocks found and marked invalid)
  6  unavailable (storage or I/O failure)
  7  SLA breaches found (sla)
  8  refused credentials: a store's, a server's token or certificate (also: not permitted), or an encryption key missing or wrong
  9  cancelled (a job cancelled with \`blockvault --server H:P cancel JOB\`)`;

export function exitCodeFor(err: unknown): number {
  return isBlockvaultError(err) ? exitCodeForCode(err.code) : ExitCode.Internal;
}

/** The exit code for an error code (also one a server reported for a job). */
export function exitCodeForCode(code: string): number {
  switch (code) {
    case ErrorCode.InvalidArgument:
      return ExitCode.Usage;
    case ErrorCode.NotFound:
      return ExitCode.NotFound;
    case ErrorCode.AlreadyExists:
    case ErrorCode.Conflict:
      return ExitCode.Conflict;
    case ErrorCode.Integrity:
      return ExitCode.Integrity;
    case ErrorCode.Unavailable:
      return ExitCode.Unavailable;
    case ErrorCode.Unauthenticated:
    case ErrorCode.PermissionDenied:
      return ExitCode.Unauthenticated;
    case ErrorCode.Cancelled:
      return ExitCode.Cancelled;
    default:
      return ExitCode.Internal;
  }
}
