/**
 * The job API over gRPC (proto/blockvault/v1/jobs.proto), with the standard health checking
 * service and server reflection. Domain errors become status codes only here, at the edge.
 */
import {
  allows,
  grantOf,
  MESSAGE_LIMIT_BYTES,
  startServer,
  toServiceError,
  unaryHandler as unary,
  type Permission,
  type ServerSecurity,
  type StartedServer,
} from '@blockvault/grpc-edge';
import {
  checkBackupRequest,
  checkTimeZone,
  ConflictError,
  ErrorCode,
  InvalidArgumentError,
  InvalidVersionStateError,
  parseHints,
  parseRetentionRules,
  PermissionDeniedError,
  versionToJson,
  type Clock,
  type Repository,
} from '@blockvault/core';
import {
  JobServiceService,
  JobState,
  type JobServiceServer,
  type ListSchedulesResponse,
  type ListVersionsResponse,
  reflectionDescriptors,
  type Usage,
  type VersionDetail,
} from '@blockvault/proto';
import { versionPb } from './job-result.ts';
import { checkJobId, isTerminal, JOB_TYPES, jobType, type JobQueue } from './queue.ts';

export const MAX_MESSAGE_BYTES = MESSAGE_LIMIT_BYTES;

/** A URL the job may use: well formed, and inside the I/O roots where the module knows them. */
async function checked(repository: Repository, raw: string): Promise<void> {
  const { module, url } = repository.ctx.io.resolve(raw);
  await module.check?.(url);
}

function required(value: string | undefined, field: string): void {
  if (!value) throw new InvalidArgumentError(`${field} is required`);
}

export interface JobServiceDeps {
  readonly queue: JobQueue;
  readonly repository: Repository;
  readonly clock: Clock;
  /** Whether calls carry token grants (the server was given tokens). */
  readonly tokensRequired?: boolean;
}

/** The permission each job API method needs; cleanup and enforce submissions need admin. */
export const JOB_API_PERMISSIONS: Readonly<Record<string, Permission>> = {
  SubmitJob: 'submit',
  CancelJob: 'submit',
  GetJob: 'read',
  ListJobs: 'read',
  WatchJob: 'read',
  ListVersions: 'read',
  GetVersion: 'read',
  GetUsage: 'read',
  ListSchedules: 'read',
};

/** What the job API reads, as its messages: the gRPC service and the dashboard's JSON API answer the same. */
export interface JobReads {
  listVersions(req: { name?: string; tag?: string }): Promise<ListVersionsResponse>;
  getVersion(req: { uid: string }): Promise<VersionDetail>;
  getUsage(): Promise<Usage>;
  listSchedules(req: { name?: string }): Promise<ListSchedulesResponse>;
}

export function jobReads(repository: Repository): JobReads {
  return {
    listVersions: async (req) => {
      const versions = await repository.ls({ name: req.name || undefined, tag: req.tag || undefined });
      return {
        versions: versions.map((v) => versionPb({ ...versionToJson(v), stats: v.stats })),
      };
    },
    getVersion: async (req) => {
      required(req.uid, 'uid');
      const { version, complete, summary } = await repository.summary((await repository.findVersion(req.uid)).uid);
      return { version: versionPb({ ...versionToJson(version), stats: version.stats }), complete, ...summary };
    },
    getUsage: async () => {
      const { versions, total } = await repository.usage();
      return { versions: versions.map((u) => ({ ...u })), total: { ...total } };
    },
    listSchedules: async (req) => ({
      schedules: (await repository.scheduleStatuses(req.name || undefined)).map((st) => ({
        name: st.schedule.name,
        scheduler: st.schedule.scheduler,
        intervalSeconds: st.schedule.intervalSeconds,
        keep: st.schedule.keep,
        slaSeconds: st.schedule.slaSeconds,
        source: st.schedule.source ?? '',
        retention: st.schedule.retention ?? '',
        latestUid: st.latest?.uid ?? '',
        latestDate: st.latest?.date.toISOString() ?? '',
        nextDue: st.nextDue.toISOString(),
        due: st.due,
        breaches: [...st.breaches],
      })),
    }),
  };
}

export function jobService(deps: JobServiceDeps): JobServiceServer {
  const { queue, repository } = deps;
  const reads = jobReads(repository);
  return {
    submitJob: unary(async (req, call) => {
      const type = jobType(req);
      if ((type === 'cleanup' || type === 'enforce') && !allows(grantOf(call), 'admin', deps.tokensRequired ?? false)) {
        throw new PermissionDeniedError(`${type} jobs need a token with the admin permission`);
      }
      // Refuse what can never run before it is queued: missing fields, bad URLs, unknown versions.
      if (type === 'backup') {
        required(req.backup?.source, 'backup.source');
        required(req.backup?.name, 'backup.name');
        checkBackupRequest({ name: req.backup!.name, tags: req.backup!.tags });
        if (req.backup!.expire && Number.isNaN(new Date(req.backup!.expire).getTime()))
          throw new InvalidArgumentError(`backup.expire ${JSON.stringify(req.backup!.expire)} is not an ISO 8601 date`);
        if (req.backup!.hintsJson) parseHints(req.backup!.hintsJson, 'backup.hints_json');
        await checked(repository, req.backup!.source);
        if (req.backup?.fromUid) await repository.getVersion(req.backup.fromUid);
        if (req.backup?.continueUid) {
          if (req.backup.fromUid)
            throw new InvalidArgumentError(
              'backup.continue_uid resumes a version as it was started; do not combine it with backup.from_uid',
            );
          const v = await repository.getVersion(req.backup.continueUid);
          if (v.valid) throw new InvalidVersionStateError(`version ${v.uid} is complete and valid: there is nothing to continue`);
        }
      } else if (type === 'restore') {
        required(req.restore?.uid, 'restore.uid');
        required(req.restore?.target, 'restore.target');
        await checked(repository, req.restore!.target);
        await repository.getVersion(req.restore!.uid);
      } else if (type === 'scrub') {
        required(req.scrub?.uid, 'scrub.uid');
        const percent = req.scrub!.percent;
        if (percent !== 0 && !(percent > 0 && percent <= 100))
          throw new InvalidArgumentError(`scrub.percent must be more than 0 and at most 100 (0 means 100), got ${percent}`);
        if (req.scrub?.source) await checked(repository, req.scrub.source);
        await repository.getVersion(req.scrub!.uid);
      } else if (type === 'enforce') {
        required(req.enforce?.rules, 'enforce.rules');
        parseRetentionRules(req.enforce!.rules);
        checkTimeZone(req.enforce!.timeZone || 'UTC');
      }
      return queue.submit(req, deps.clock.now());
    }),
    getJob: unary((req) => queue.get(checkJobId(req.id))),
    listJobs: unary(async (req) => {
      if (req.type && !(JOB_TYPES as readonly string[]).includes(req.type))
        throw new InvalidArgumentError(
          `type ${JSON.stringify(req.type.slice(0, 32))} is not a job type: one of ${JOB_TYPES.join(', ')}, or empty for any`,
        );
      if (!Object.values(JobState).includes(req.state) || req.state === JobState.UNRECOGNIZED)
        throw new InvalidArgumentError(`state ${req.state} is not a JobState`);
      return { jobs: await queue.list({ limit: req.limit || 100, state: req.state || undefined, type: req.type || undefined }) };
    }),
    cancelJob: unary(async (req) =>
      queue.update(checkJobId(req.id), (j) => {
        // A queued job is skipped by the worker that gets it. A running backup, restore or scrub
        // stops between blocks once its worker sees the request, and the job ends CANCELLED.
        if (j.state === JobState.JOB_STATE_QUEUED)
          return {
            ...j,
            state: JobState.JOB_STATE_CANCELLED,
            finished: deps.clock.now().toISOString(),
            errorCode: ErrorCode.Cancelled,
            error: 'cancelled before it ran',
          };
        if (isTerminal(j)) throw new ConflictError(`job ${req.id} has already ended`);
        if (j.type === 'cleanup' || j.type === 'enforce')
          throw new ConflictError(`job ${req.id} is a running ${j.type}; cleanup and enforce jobs run to the end`);
        return { ...j, cancelRequested: true };
      }),
    ),
    watchJob: (call) => {
      void (async () => {
        try {
          // The queue may hand over the same state twice (a KV watch starts with the current entry,
          // which the first message already was): each distinct state is sent once.
          let last = '';
          for await (const job of queue.watch(checkJobId(call.request.id))) {
            if (call.cancelled) return;
            const seen = JSON.stringify(job);
            if (seen === last) continue;
            last = seen;
            call.write(job);
          }
          call.end();
        } catch (err) {
          call.emit('error', toServiceError(err));
        }
      })();
    },
    listVersions: unary((req) => reads.listVersions(req)),
    getVersion: unary((req) => reads.getVersion(req)),
    getUsage: unary(() => reads.getUsage()),
    listSchedules: unary((req) => reads.listSchedules(req)),
  };
}

export type GrpcServer = StartedServer;

/** Serves the job API, health checking and reflection on `address` (host:port; port 0: any). */
export function serveJobApi(deps: JobServiceDeps, address: string, security?: ServerSecurity): Promise<GrpcServer> {
  const implementation = jobService({ ...deps, tokensRequired: security?.tokens !== undefined });
  return startServer(
    'blockvault.v1.JobService',
    address,
    'blockvault/v1/jobs.proto',
    { definition: JobServiceService, implementation, descriptors: reflectionDescriptors('blockvault/v1/jobs.proto') },
    security && { ...security, permissions: JOB_API_PERMISSIONS },
  );
}
