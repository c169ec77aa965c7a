import { MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { AlreadyExistsError, AuthenticationError, isBlockvaultError, UnavailableError } from '@blockvault/core';

const AUTH_CODES = new Set([13, 18]); // Unauthorized, AuthenticationFailed
/**
 * Socket errors the driver sometimes lets through unwrapped: a command written to a connection
 * the server has just closed fails with Node's own EPIPE ("This socket has been ended by the
 * other party"), not a MongoNetworkError. A database restart is transient, whatever its wrapping.
 */
const NETWORK_ERRNO = new Set(['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ENOTCONN', 'ECONNABORTED']);

/** Runs a driver call and translates its errors into the port's typed errors. */
export async function translate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isBlockvaultError(err)) throw err;
    if (err instanceof MongoServerError && err.code === 11000) throw new AlreadyExistsError('document already exists', { cause: err });
    if (err instanceof MongoServerError && AUTH_CODES.has(Number(err.code))) {
      throw new AuthenticationError('the metadata database refused the credentials (check the user and password in the MongoDB URL)', {
        cause: err,
      });
    }
    const errno = (err as NodeJS.ErrnoException | undefined)?.code;
    if (
      err instanceof MongoServerSelectionError ||
      err instanceof MongoNetworkError ||
      (typeof errno === 'string' && NETWORK_ERRNO.has(errno))
    ) {
      throw new UnavailableError(`the metadata database is unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (err instanceof MongoError) throw new UnavailableError(`metadata database error: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A MongoDB URL with its password replaced, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}
