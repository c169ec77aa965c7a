/**
 * Domain errors become gRPC statuses only at a server's edge, and statuses become typed errors
 * again in clients; both directions live here so that every service and client agrees.
 */
import * as grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { propagation } from '@opentelemetry/api';
import { HealthImplementation } from 'grpc-health-check';
import {
  AlreadyExistsError,
  AuthenticationError,
  BlobNotFoundError,
  CancelledError,
  ConflictError,
  ErrorCode,
  IntegrityError,
  InternalError,
  InvalidArgumentError,
  isBlockvaultError,
  NotFoundError,
  PermissionDeniedError,
  UnavailableError,
  ProtectedVersionError,
  SessionExpiredError,
  TargetExistsError,
  VersionInUseError,
  VersionNotFoundError,
  type BlockvaultError,
} from '@blockvault/core';

/** Trailers naming the domain error class and its subject (a uid, key or target), so that a client rebuilds the same error. */
const ERROR_CLASS = 'blockvault-error';
const ERROR_SUBJECT = 'blockvault-error-subject';

/** Domain errors a client rebuilds as themselves from the trailers; others become their category's class. */
const REBUILD: Record<string, (subject: string) => BlockvaultError> = {
  VersionNotFoundError: (s) => new VersionNotFoundError(s),
  BlobNotFoundError: (s) => new BlobNotFoundError(s),
  TargetExistsError: (s) => new TargetExistsError(s),
  ProtectedVersionError: (s) => new ProtectedVersionError(s),
  VersionInUseError: (s) => new VersionInUseError(s),
  SessionExpiredError: (s) => new SessionExpiredError(s),
};

const TO_STATUS: Record<string, grpc.status> = {
  [ErrorCode.InvalidArgument]: grpc.status.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: grpc.status.NOT_FOUND,
  [ErrorCode.AlreadyExists]: grpc.status.ALREADY_EXISTS,
  [ErrorCode.Conflict]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.Integrity]: grpc.status.DATA_LOSS,
  [ErrorCode.Unavailable]: grpc.status.UNAVAILABLE,
  [ErrorCode.Unauthenticated]: grpc.status.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: grpc.status.PERMISSION_DENIED,
  [ErrorCode.Cancelled]: grpc.status.CANCELLED,
  [ErrorCode.Internal]: grpc.status.INTERNAL,
};

/** The status a server answers for an error (INTERNAL for anything that is not ours). */
export function toServiceError(err: unknown): grpc.ServiceError {
  const code = isBlockvaultError(err) ? (TO_STATUS[err.code] ?? grpc.status.INTERNAL) : grpc.status.INTERNAL;
  const details = isBlockvaultError(err) ? err.message : `internal error: ${(err as Error)?.message ?? String(err)}`;
  const metadata = new grpc.Metadata();
  if (isBlockvaultError(err)) {
    metadata.set(ERROR_CLASS, err.name);
    const e = err as unknown as { uid?: unknown; key?: unknown; target?: unknown; sessionId?: unknown };
    const subject = [e.uid, e.key, e.target, e.sessionId].find((v) => typeof v === 'string');
    if (typeof subject === 'string') metadata.set(ERROR_SUBJECT, subject);
  }
  return Object.assign(new Error(details), { code, details, metadata });
}

/** The domain error code a status stands for (undefined: the call did not reach a server that answered). */
export function codeOfStatus(status: grpc.status): string | undefined {
  return Object.entries(TO_STATUS).find(([, s]) => s === status)?.[0];
}

/** A client's typed error for a failed call; `blobKey` makes NOT_FOUND a BlobNotFoundError. */
/**
 * grpc-js's own wording of a failed connection, as one readable line: "No connection established.
 * Last error: Error: connect ECONNREFUSED 127.0.0.1:7071. Resolution note: " becomes "no connection
 * established (connect ECONNREFUSED 127.0.0.1:7071)": no empty "Resolution note", no doubled "Error:".
 */
export function readable(details: string): string {
  const text = details.replace(/\s*Resolution note:\s*$/, '').trim();
  const lost = /^No connection established\. Last error: (?:Error: )?(.*?)\.?$/s.exec(text);
  return lost ? `no connection established (${lost[1]})` : text;
}

export function fromServiceError(err: grpc.ServiceError, where: string, blobKey?: string): BlockvaultError {
  const named = err.metadata?.get(ERROR_CLASS)[0];
  const subject = err.metadata?.get(ERROR_SUBJECT)[0];
  const rebuild = typeof named === 'string' ? REBUILD[named] : undefined;
  if (rebuild && typeof subject === 'string') {
    const rebuilt = rebuild(subject);
    if (TO_STATUS[rebuilt.code] === err.code) return Object.assign(rebuilt, { cause: err });
  }
  const message = `${where}: ${readable(err.details || err.message)}`;
  switch (err.code) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.RESOURCE_EXHAUSTED:
      return new InvalidArgumentError(message, { cause: err });
    case grpc.status.NOT_FOUND:
      return blobKey !== undefined ? new BlobNotFoundError(blobKey, { cause: err }) : new NotFoundError(message, { cause: err });
    case grpc.status.ALREADY_EXISTS:
      return new AlreadyExistsError(message, { cause: err });
    case grpc.status.FAILED_PRECONDITION:
      return new ConflictError(message, { cause: err });
    case grpc.status.DATA_LOSS:
      return new IntegrityError(message, { cause: err });
    case grpc.status.UNAUTHENTICATED:
      return new AuthenticationError(message, { cause: err });
    case grpc.status.PERMISSION_DENIED:
      return new PermissionDeniedError(message, { cause: err });
    case grpc.status.INTERNAL:
      return new InternalError(message, { cause: err });
    case grpc.status.CANCELLED:
      return new CancelledError(message, { cause: err });
    default:
      return new UnavailableError(message, { cause: err });
  }
}

export * from './security.ts';
export { checkHealth } from './health-client.ts';
export { encodeWithBytes, fillBytesMessage, type SmallField } from './wire.ts';
export { instrument, traceInterceptor } from './observe.ts';
export { send, type MessageStream } from './streams.ts';
import { instrument, traceInterceptor } from './observe.ts';
import { guard, serverCredentials, tokenInterceptor, type ClientSecurity, type ServerSecurity } from './security.ts';

/** Channel options and interceptors for a client with `security` (TLS credentials go separately). */
export function clientOptions(security: ClientSecurity | undefined): grpc.ClientOptions {
  // The trace interceptor only where a propagator is installed (the SDK started): an interceptor
  // costs every message of a stream a little, for nothing when nothing is traced.
  const tracing = propagation.fields().length > 0;
  const interceptors = [...(tracing ? [traceInterceptor()] : []), ...(security?.token ? [tokenInterceptor(security.token)] : [])];
  return { ...CHANNEL_OPTIONS, ...(interceptors.length > 0 ? { interceptors } : {}) };
}

/**
 * A unary handler from an async function of the request (and the call, for its grant): the
 * result is the answer, any error (thrown or rejected) its status.
 */
export function unaryHandler<Req, Res>(
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let answer: Promise<Res>;
    try {
      answer = fn(call.request, call);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    answer.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

/** Room for 4 MiB blocks (4,194,311 bytes on the wire) and their framing. */
export const MESSAGE_LIMIT_BYTES = 8 * 1024 * 1024;

/** Channel options every client and server of ours uses. */
export const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': MESSAGE_LIMIT_BYTES,
  'grpc.max_send_message_length': MESSAGE_LIMIT_BYTES,
} as const;

export interface StartedServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** The contract's .proto files (for server reflection). */
export const PROTO_ROOT = resolve(import.meta.dirname, '../../../../proto');
/** The standard health checking protocol's .proto, as grpc-health-check ships it. */
const HEALTH_PROTO_ROOT = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check')), '../../proto');

/**
 * Starts a gRPC server with our message limits, the standard health checking service reporting
 * SERVING for `serviceName`, server reflection describing `protoFile` (relative to PROTO_ROOT,
 * e.g. `blockvault/v1/jobs.proto`), and `security` (TLS, tokens) in front of `service`.
 */
export async function startServer<S extends grpc.UntypedServiceImplementation>(
  serviceName: string,
  address: string,
  protoFile: string,
  service: {
    readonly definition: grpc.ServiceDefinition;
    readonly implementation: S;
    /** Descriptors as protoc wrote them, comments included, to serve by reflection in place of proto-loader's (see withDescriptors). */
    readonly descriptors?: readonly Uint8Array[];
  },
  security?: ServerSecurity,
): Promise<StartedServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(service.definition, instrument(service.definition, guard(service.definition, service.implementation, security)));
  // Loaded only by servers: protobufjs and the descriptors would grow every client's heap, and a
  // larger heap makes each of the data path's many garbage collections slower.
  const [{ ReflectionService }, { loadSync }, { default: descriptor }] = await Promise.all([
    import('@grpc/reflection'),
    import('@grpc/proto-loader'),
    import('protobufjs/ext/descriptor/index.js'),
  ]);
  // Reflection describes the health service too, so `grpcurl HOST:PORT grpc.health.v1.Health/Check` needs no -proto.
  const definition = loadSync([protoFile, 'health/v1/health.proto'], { includeDirs: [PROTO_ROOT, HEALTH_PROTO_ROOT] });
  const decode = (bytes: Uint8Array): { name?: string; package?: string } =>
    descriptor.FileDescriptorProto.decode(bytes) as unknown as { name?: string; package?: string };
  if (service.descriptors) withDescriptors(definition, service.descriptors, decode);
  new ReflectionService(definition).addToServer(server);
  new HealthImplementation({ '': 'SERVING', [serviceName]: 'SERVING' }).addToServer(server);
  const credentials = serverCredentials(security?.tls);
  const port = await new Promise<number>((done, fail) => server.bindAsync(address, credentials, (err, p) => (err ? fail(err) : done(p))));
  return { port, stop: () => new Promise((done) => server.tryShutdown(() => done())) };
}

/**
 * proto-loader rebuilds one file per package (`blockvault_v1.proto`), without comments and, for
 * the health service's map field, with a map entry name that Go clients (grpcurl) refuse. This puts
 * protoc's own descriptor of each package in its place in the package definition.
 */
function withDescriptors(
  definition: Record<string, unknown>,
  descriptors: readonly Uint8Array[],
  decode: (bytes: Uint8Array) => { name?: string; package?: string },
): void {
  const byRebuiltName = new Map<string, Uint8Array>(
    descriptors.map((file) => [`${(decode(file).package ?? '').replaceAll('.', '_')}.proto`, file] as const),
  );
  for (const value of Object.values(definition)) {
    const protos = (value as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    if (!Array.isArray(protos)) continue;
    protos.forEach((bytes: Uint8Array, i) => {
      const ours = byRebuiltName.get(decode(bytes).name ?? '');
      if (ours) protos[i] = Buffer.from(ours);
    });
  }
}
