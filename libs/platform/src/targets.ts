/** What `serve --target` takes: `all` (every role in one process), or one service. Kept apart from serve.ts so the CLI lists them without loading the services. */
export const TARGETS = ['all', 'scheduler', 'worker', 'blob-store', 'reader', 'metadata', 'access'] as const;
export type Target = (typeof TARGETS)[number];

/** Targets with a gRPC server (a worker has none; `access` serves NBD and HTTP). */
export type GrpcTarget = Exclude<Target, 'worker' | 'access'>;

/** Default gRPC addresses by target. */
export const DEFAULT_LISTEN: Record<GrpcTarget, string> = {
  all: '127.0.0.1:7070',
  scheduler: '127.0.0.1:7070',
  'blob-store': '127.0.0.1:7071',
  reader: '127.0.0.1:7072',
  metadata: '127.0.0.1:7073',
};

/** Where the access target serves NBD unless BLOCKVAULT_NBD_LISTEN or --listen says otherwise (NBD's registered port). */
export const DEFAULT_NBD_LISTEN = '127.0.0.1:10809';

export function isTarget(name: string): name is Target {
  return (TARGETS as readonly string[]).includes(name);
}
