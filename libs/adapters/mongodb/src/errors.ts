import { MongoError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { AlreadyExistsError, AuthenticationError, isBlockvaultError, isNetworkError, UnavailableError } from '@blockvault/core';

const AUTH_CODES = new Set([13, 18]); // Unauthorized, AuthenticationFailed

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
    // The driver does not wrap every socket error: a command written to a connection the server
    // has just closed fails with Node's own EPIPE ("This socket has been ended by the other party").
    if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError || isNetworkError(err)) {
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
