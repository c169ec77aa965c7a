/** What `serve --target` takes: `all` (every role in one process), or one service. Kept apart from serve.ts so the CLI lists them without loading the services. */
export const TARGETS = ['all', 'scheduler', 'worker', 'blob-store', 'reader', 'metadata'] as const;
export type Target = (typeof TARGETS)[number];

/** Default gRPC addresses by target. */
export const DEFAULT_LISTEN: Record<Exclude<Target, 'worker'>, string> = {
  all: '127.0.0.1:7070',
  scheduler: '127.0.0.1:7070',
  'blob-store': '127.0.0.1:7071',
  reader: '127.0.0.1:7072',
  metadata: '127.0.0.1:7073',
};

export function isTarget(name: string): name is Target {
  return (TARGETS as readonly string[]).includes(name);
}
