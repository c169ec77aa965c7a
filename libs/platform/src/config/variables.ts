/**
 * Every environment variable Blockvault reads, by section. The loader (load.ts) reads only
 * variables listed here, and the README's configuration table is generated from this list
 * (`npm run docs:config`); a test fails when either drifts.
 */
export const SECTIONS = ['home', 'stores', 'io', 'services', 'nats', 'queue', 'scheduler', 'security', 'telemetry', 'logging'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Variable {
  readonly name: string;
  readonly section: Section;
  /** What values it takes. */
  readonly accepts: string;
  /** What applies when it is unset (or empty). */
  readonly default: string;
  readonly meaning: string;
}

export const VARIABLES: readonly Variable[] = [
  {
    name: 'BLOCKVAULT_HOME',
    section: 'home',
    accepts: 'a directory',
    default: '$XDG_DATA_HOME/blockvault, else ~/.local/share/blockvault',
    meaning: 'the repository home: SQLite metadata and file blobs when no other store is set (`--home` wins)',
  },
  { name: 'XDG_DATA_HOME', section: 'home', accepts: 'a directory', default: '~/.local/share', meaning: 'where the default home lives' },

  {
    name: 'BLOCKVAULT_MONGO_URL',
    section: 'stores',
    accepts: 'mongodb://...',
    default: 'unset: SQLite under the home',
    meaning: 'metadata in MongoDB or FerretDB',
  },
  {
    name: 'BLOCKVAULT_MONGO_DATABASE',
    section: 'stores',
    accepts: 'a database name',
    default: "the URL's, else blockvault",
    meaning: 'the MongoDB database',
  },
  {
    name: 'BLOCKVAULT_S3_ENDPOINT',
    section: 'stores',
    accepts: 'a host name',
    default: 'unset: files under the home',
    meaning: 'blobs in S3 (MinIO, Ceph RGW, AWS)',
  },
  { name: 'BLOCKVAULT_S3_PORT', section: 'stores', accepts: '1-65535', default: '443, or 80 without TLS', meaning: 'the S3 port' },
  { name: 'BLOCKVAULT_S3_USE_SSL', section: 'stores', accepts: 'true, false', default: 'true', meaning: 'TLS to S3' },
  { name: 'BLOCKVAULT_S3_ACCESS_KEY', section: 'stores', accepts: 'text', default: 'required with S3', meaning: 'the S3 access key' },
  { name: 'BLOCKVAULT_S3_SECRET_KEY', section: 'stores', accepts: 'text', default: 'required with S3', meaning: 'the S3 secret key' },
  { name: 'BLOCKVAULT_S3_REGION', section: 'stores', accepts: 'a region', default: 'us-east-1', meaning: 'the S3 region' },
  {
    name: 'BLOCKVAULT_S3_BUCKET',
    section: 'stores',
    accepts: 'a bucket name',
    default: 'blockvault',
    meaning: 'the bucket, created if missing',
  },
  {
    name: 'BLOCKVAULT_BLOBSTORE_URL',
    section: 'stores',
    accepts: 'host:port',
    default: 'unset',
    meaning: 'blobs through the blob-store service (its own process uses files or S3)',
  },
  {
    name: 'BLOCKVAULT_BLOBSTORE_PRESIGNED',
    section: 'stores',
    accepts: 'true, false',
    default: 'true',
    meaning:
      'with S3 behind the blob-store service: block blobs go straight to and from S3 by URLs the service presigns (false: through the service)',
  },
  {
    name: 'BLOCKVAULT_METADATA_URL',
    section: 'stores',
    accepts: 'host:port',
    default: 'unset',
    meaning: 'metadata through the metadata service (its own process uses SQLite or MongoDB); locks then live in NATS',
  },
  {
    name: 'BLOCKVAULT_STORE_RETRY_MS',
    section: 'stores',
    accepts: '0-3600000',
    default: '30000',
    meaning: 'how long a blob store call that finds the store unavailable is retried (backoff with jitter) before it fails',
  },
  {
    name: 'BLOCKVAULT_STORE_DEADLINE_MS',
    section: 'stores',
    accepts: '100-3600000',
    default: '120000',
    meaning: 'how long one blob store call may take before it is abandoned as unavailable (and retried)',
  },
  {
    name: 'BLOCKVAULT_COMPRESSION',
    section: 'stores',
    accepts: 'zstd, none',
    default: 'zstd',
    meaning: 'how new blobs are compressed (a block whose samples do not compress is stored as it is)',
  },
  { name: 'BLOCKVAULT_COMPRESSION_LEVEL', section: 'stores', accepts: '1-19', default: '1', meaning: 'the zstd level' },
  {
    name: 'BLOCKVAULT_ENCRYPTION_KEY_FILE',
    section: 'stores',
    accepts: 'a file, mode 600',
    default: 'unset: no encryption',
    meaning: 'master keys, one `ID BASE64-32-BYTES` per line; the first wraps new data keys',
  },

  {
    name: 'BLOCKVAULT_IO_ROOTS',
    section: 'io',
    accepts: 'absolute paths and rbd:POOL, comma-separated',
    default: 'unset: anywhere',
    meaning: 'where sources and targets may be (paths after symlinks)',
  },
  {
    name: 'BLOCKVAULT_READER_URL',
    section: 'io',
    accepts: 'host:port, discover',
    default: 'unset: I/O on this host',
    meaning:
      'sources and targets through the reader service; discover: the live readers announced in NATS, by the roots and pools each reaches',
  },
  {
    name: 'BLOCKVAULT_RBD_PYTHON',
    section: 'io',
    accepts: 'a python3 with the rbd module',
    default: '/usr/bin/python3',
    meaning: 'the interpreter of the rbd:// helper',
  },

  {
    name: 'BLOCKVAULT_GRPC_LISTEN',
    section: 'services',
    accepts: 'host:port',
    default: 'job API 127.0.0.1:7070, blob-store :7071, reader :7072, metadata :7073',
    meaning: 'the gRPC address of the target served (`--listen` wins)',
  },
  {
    name: 'BLOCKVAULT_METRICS_LISTEN',
    section: 'services',
    accepts: 'host:port',
    default: 'unset: no /metrics',
    meaning: 'serve Prometheus metrics',
  },
  {
    name: 'BLOCKVAULT_HTTP_LISTEN',
    section: 'services',
    accepts: 'host:port',
    default: 'unset: no dashboard',
    meaning: "the scheduler's web dashboard and JSON API, or the access target's HTTP range endpoint, behind the job API tokens",
  },
  {
    name: 'BLOCKVAULT_NBD_LISTEN',
    section: 'services',
    accepts: 'host:port',
    default: 'unset: `--listen`, else 127.0.0.1:10809',
    meaning: 'where `serve --target access` exports the versions over NBD',
  },

  {
    name: 'BLOCKVAULT_NATS_URL',
    section: 'nats',
    accepts: 'nats://host:port[,nats://...]',
    default: 'unset: `serve` (all) queues jobs in process; scheduler and worker use nats://127.0.0.1:4222',
    meaning: 'NATS with JetStream: the job queue, KV, locks and events (`--nats` wins)',
  },
  {
    name: 'BLOCKVAULT_NATS_CREDS',
    section: 'nats',
    accepts: 'a creds file, mode 600',
    default: 'unset',
    meaning: 'NATS JWT and NKey seed',
  },
  { name: 'BLOCKVAULT_NATS_USER', section: 'nats', accepts: 'a user name', default: 'unset', meaning: 'NATS user' },
  {
    name: 'BLOCKVAULT_NATS_PASSWORD_FILE',
    section: 'nats',
    accepts: 'a file, mode 600',
    default: 'unset',
    meaning: "the NATS user's password",
  },
  { name: 'BLOCKVAULT_NATS_TOKEN_FILE', section: 'nats', accepts: 'a file, mode 600', default: 'unset', meaning: 'a NATS token' },
  {
    name: 'BLOCKVAULT_DEPLOYMENT',
    section: 'nats',
    accepts: '1-63 of A-Z a-z 0-9 . _ -',
    default: 'default',
    meaning: "this deployment's name in each event's CloudEvents `source` (`urn:blockvault:NAME:SERVICE`)",
  },

  {
    name: 'BLOCKVAULT_JOB_ACK_WAIT_MS',
    section: 'queue',
    accepts: '1000-3600000',
    default: '30000',
    meaning: 'a worker silent this long loses its job to another (set when the queue is created)',
  },
  {
    name: 'BLOCKVAULT_LOCK_TTL_MS',
    section: 'queue',
    accepts: '1000-3600000',
    default: '60000',
    meaning: "the lease of locks in NATS KV: a dead holder's lock frees after this long",
  },
  {
    name: 'BLOCKVAULT_JOB_OUTAGE_RETRY_MS',
    section: 'queue',
    accepts: '0-3600000',
    default: '120000',
    meaning:
      'how long a running job waits out an unavailable service or store (retrying with backoff, continuing its version) before the attempt counts as failed; and how long the CLI with --server waits for the job API to come back',
  },

  {
    name: 'BLOCKVAULT_SCHEDULER_TICK_MS',
    section: 'scheduler',
    accepts: '100-86400000',
    default: '30000',
    meaning: 'how often the scheduler looks at the schedules',
  },

  {
    name: 'BLOCKVAULT_TLS_CA',
    section: 'security',
    accepts: 'a PEM file',
    default: 'unset: plaintext gRPC',
    meaning: 'the CA: servers verify clients, clients verify servers',
  },
  {
    name: 'BLOCKVAULT_TLS_CERT',
    section: 'security',
    accepts: 'a PEM file',
    default: 'unset',
    meaning: "this process's certificate (with BLOCKVAULT_TLS_KEY)",
  },
  {
    name: 'BLOCKVAULT_TLS_KEY',
    section: 'security',
    accepts: 'a PEM file, mode 600',
    default: 'unset',
    meaning: "this process's private key",
  },
  {
    name: 'BLOCKVAULT_TLS_CLIENT_AUTH',
    section: 'security',
    accepts: 'require, none',
    default: 'none',
    meaning: 'servers refuse clients without a certificate signed by the CA',
  },
  {
    name: 'BLOCKVAULT_TOKENS_FILE',
    section: 'security',
    accepts: 'a file',
    default: 'unset: any caller',
    meaning: "the job API's tokens: `NAME PERMISSIONS SHA256-HEX` per line",
  },
  {
    name: 'BLOCKVAULT_TOKEN_FILE',
    section: 'security',
    accepts: 'a file, mode 600',
    default: 'unset',
    meaning: 'the token this CLI sends to the job API',
  },
  {
    name: 'BLOCKVAULT_CLUSTER_TOKEN_FILE',
    section: 'security',
    accepts: 'a file, mode 600',
    default: 'unset',
    meaning: 'the token internal services require and their clients send',
  },

  {
    name: 'BLOCKVAULT_TRACE_BLOCKS',
    section: 'telemetry',
    accepts: '0-1',
    default: '0.01',
    meaning: 'the share of blocks with spans of their own when a trace is recorded (OTEL_* configure the SDK)',
  },

  {
    name: 'BLOCKVAULT_LOG_LEVEL',
    section: 'logging',
    accepts: 'fatal, error, warn, info, debug, trace, silent',
    default: 'info',
    meaning: "the services' pino log level",
  },
];

const escape = (s: string): string => s.replace(/\|/g, '\\|');

/** The README's table (between `<!-- config-table -->` markers). */
export function configTable(): string {
  const rows = VARIABLES.map(
    (v) => `| ${v.section} | \`${v.name}\` | ${escape(v.accepts)} | ${escape(v.default)} | ${escape(v.meaning)} |`,
  );
  return ['| section | variable | accepts | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
