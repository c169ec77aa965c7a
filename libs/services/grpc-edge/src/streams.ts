/** Writing to a gRPC stream (either side) with backpressure that ends with the stream. */

/** What `send` needs of a gRPC call: a Node writable stream (grpc-js calls are Duplex or Writable). */
export interface MessageStream<T> {
  write(message: T): boolean;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
}

/**
 * Writes one message and waits while the stream is full. Resolves true once the stream takes
 * more, false when the stream is gone (cancelled by the peer, failed or closed): a full stream
 * whose peer went away never drains, and waiting for 'drain' alone would hang the writer, and
 * whatever it holds (an open file, a pool of blocks), for good.
 */
export function send<T>(stream: MessageStream<T>, message: T): Promise<boolean> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve(false);
  if (stream.write(message)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const events = ['drain', 'close', 'error', 'cancelled'] as const;
    const listeners = events.map((event) => {
      const listener = (): void => {
        events.forEach((e, i) => stream.removeListener(e, listeners[i]!));
        resolve(event === 'drain');
      };
      stream.once(event, listener);
      return listener;
    });
  });
}
