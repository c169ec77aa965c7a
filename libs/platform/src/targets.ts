/** What `serve --target` takes: `all` (every role in one process), or one service. Kept apart from serve.ts so the CLI lists them without loading the services. */
export const TARGETS = ['all', 'scheduler', 'worker', 'blob-store', 'reader', 'metadata'] as const;
export type Target = (typeof TARGETS)[number];
