/**
 * One error class per failure. Each carries a stable `code` (a category that adapters, the gRPC
 * edge and the CLI map to statuses and exit codes) and readonly context. Messages say what was
 * wrong and what to do about it.
 */

export const ErrorCode = {
  InvalidArgument: 'INVALID_ARGUMENT',
  NotFound: 'NOT_FOUND',
  AlreadyExists: 'ALREADY_EXISTS',
  Conflict: 'CONFLICT',
  Integrity: 'INTEGRITY',
  Unavailable: 'UNAVAILABLE',
  Unauthenticated: 'UNAUTHENTICATED',
  PermissionDenied: 'PERMISSION_DENIED',
  Cancelled: 'CANCELLED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export abstract class BlockvaultError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends BlockvaultError {
  readonly code = ErrorCode.InvalidArgument;
}

export class UnsupportedUrlError extends InvalidArgumentError {
  readonly url: string;
  constructor(url: string, reason: string) {
    super(`unsupported URL ${JSON.stringify(url)}: ${reason}`);
    this.url = url;
  }
}

export class InvalidHintsError extends InvalidArgumentError {}

export class NotFoundError extends BlockvaultError {
  readonly code = ErrorCode.NotFound;
}

export class VersionNotFoundError extends NotFoundError {
  readonly uid: string;
  constructor(uid: string) {
    super(`version ${uid} not found (list versions with \`blockvault ls\`)`);
    this.uid = uid;
  }
}

export class BlobNotFoundError extends NotFoundError {
  readonly key: string;
  constructor(key: string, options?: { cause?: unknown }) {
    super(`blob ${key} not found in the blob store`, options);
    this.key = key;
  }
}

export class SourceNotFoundError extends NotFoundError {}

export class AlreadyExistsError extends BlockvaultError {
  readonly code = ErrorCode.AlreadyExists;
}

export class TargetExistsError extends AlreadyExistsError {
  readonly target: string;
  constructor(target: string) {
    super(`restore target ${target} already exists; pass --force to overwrite it`);
    this.target = target;
  }
}

export class ConflictError extends BlockvaultError {
  readonly code = ErrorCode.Conflict;
}

export class VersionLockedError extends ConflictError {
  readonly lock: string;
  readonly holder: string;
  constructor(lock: string, holder: string) {
    super(`${lock} is locked by ${holder}; wait for it to finish (a crashed holder's lock expires)`);
    this.lock = lock;
    this.holder = holder;
  }
}

export class ProtectedVersionError extends ConflictError {
  readonly uid: string;
  constructor(uid: string) {
    super(`version ${uid} is protected; unprotect it first`);
    this.uid = uid;
  }
}

export class InvalidVersionStateError extends ConflictError {}

/** A running backup uses the version as its base. */
export class VersionInUseError extends ConflictError {
  readonly uid: string;
  constructor(uid: string) {
    super(`version ${uid} is the base of a running backup; remove it after that backup ends`);
    this.uid = uid;
  }
}

/** A backup's session expired (it stalled longer than its lease); its writes are refused. */
export class SessionExpiredError extends ConflictError {
  readonly sessionId: string;
  constructor(sessionId: string) {
    super(`backup session ${sessionId} expired before it finished (did the process stall?); continue the version with --continue`);
    this.sessionId = sessionId;
  }
}

export class IntegrityError extends BlockvaultError {
  readonly code = ErrorCode.Integrity;
}

/** Blocks outside the hints differ from the base version: the hints or the source are wrong. */
export class SanityCheckError extends IntegrityError {
  readonly blockId: number;
  constructor(blockId: number, blockSize: number, deletedUid: string) {
    super(
      `source and base version differ outside the hints at block ${blockId} ` +
        `(offset ${blockId * blockSize}): the hints do not match the source, or the source is a ` +
        `different volume; version ${deletedUid} was deleted`,
    );
    this.blockId = blockId;
  }
}

/** A restore or scrub finished but found damaged blocks (they are marked invalid). */
export class DamagedBlocksError extends IntegrityError {
  readonly blockIds: readonly number[];
  constructor(what: string, blockIds: readonly number[]) {
    const shown = blockIds.slice(0, 10).join(', ') + (blockIds.length > 10 ? ', ...' : '');
    super(`${what}: ${blockIds.length} damaged block(s) [${shown}] were marked invalid`);
    this.blockIds = blockIds;
  }
}

export class UnavailableError extends BlockvaultError {
  readonly code = ErrorCode.Unavailable;
}

/** A store refused our credentials. */
export class AuthenticationError extends BlockvaultError {
  readonly code = ErrorCode.Unauthenticated;
}

/**
 * The operation was cancelled (CancelJob). A cancelled backup leaves an incomplete, invalid
 * version that `backup --continue UID` finishes; a cancelled restore resumes with --continue-from.
 */
export class CancelledError extends BlockvaultError {
  readonly code = ErrorCode.Cancelled;
}

/** Throws the signal's reason (a CancelledError unless the caller chose another) once it is aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw signal.reason instanceof Error ? signal.reason : new CancelledError('cancelled');
}

/** The caller is known but may not do this. */
export class PermissionDeniedError extends BlockvaultError {
  readonly code = ErrorCode.PermissionDenied;
}

export class InternalError extends BlockvaultError {
  readonly code = ErrorCode.Internal;
}

/** A blob read that failed because the blob is missing or unsound: damage to mark, not a reason to stop. */
export function isDamage(err: unknown): boolean {
  return isBlockvaultError(err) && (err.code === ErrorCode.Integrity || err.code === ErrorCode.NotFound);
}

/** Node's socket and resolver errnos for a server that is down, restarting or not yet reachable. */
const NETWORK_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTCONN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/**
 * A socket error from a server that is down or restarting: transient, to be waited out, whichever
 * client library let it through (clients do not always wrap Node's own errors in theirs).
 */
export function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && NETWORK_ERRNO.has(code);
}

export function isBlockvaultError(err: unknown): err is BlockvaultError {
  return err instanceof BlockvaultError;
}

/** The error's code: its class's, else INTERNAL (a bug or an error no adapter translated). */
export function errorCodeOf(err: unknown): ErrorCode {
  return isBlockvaultError(err) ? err.code : ErrorCode.Internal;
}

/**
 * The event an operation publishes when it stops early: `<operation>.cancelled` when it was
 * cancelled (one cancellation, never also a failure), else `<operation>.failed`; each with the
 * error's message and code.
 */
export function stoppedEvent(operation: string, err: unknown, fields: Record<string, unknown>): { kind: string } & Record<string, unknown> {
  const code = errorCodeOf(err);
  const kind = code === ErrorCode.Cancelled ? `${operation}.cancelled` : `${operation}.failed`;
  return { kind, ...fields, error: (err as Error)?.message ?? String(err), code };
}
