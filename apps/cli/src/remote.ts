/**
 * `--server HOST:PORT`: the same commands against a deployment's job API. A command becomes a
 * job; the CLI watches it (a progress bar on a terminal) and prints the job's result exactly as
 * the embedded mode prints it, with the same exit codes.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, InvalidArgumentError, matchVersion, UnavailableError, type Version } from '@blockvault/core';
import { channelCredentials, clientOptions, codeOfStatus, readable, type ClientSecurity } from '@blockvault/grpc-edge';
import {
  JobServiceClient,
  JobState,
  type Job,
  type ListVersionsResponse,
  type SubmitJobRequest,
  type Usage,
  type Version as VersionPb,
  type VersionDetail,
} from '@blockvault/proto';
import { exitCodeForCode } from './exit-codes.ts';
import { progressBar } from './progress.ts';

const ADDRESS = /^[A-Za-z0-9.-]+:\d{1,5}$/;
/** How long a submission waits for a job API that does not answer (a restart takes seconds). */
const SUBMIT_WAIT_MS = 10_000;
const TERMINAL = new Set<number>([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** A job that failed: carries the server's error code so that the exit code matches. */
class RemoteJobError extends Error {
  readonly code: string;
  constructor(job: Job) {
    super(
      !job.id
        ? job.error
        : job.state === JobState.JOB_STATE_CANCELLED
          ? `job ${job.id} was cancelled`
          : // The embedded mode's words, then which job: one message in both modes.
            `${job.error} (job ${job.id})`,
    );
    this.code = job.errorCode || ErrorCode.Internal;
  }
}

export function remoteExitCode(err: unknown): number | undefined {
  if (!(err instanceof RemoteJobError)) return undefined;
  return exitCodeForCode(err.code);
}

export class Remote {
  readonly #client: JobServiceClient;
  readonly #address: string;
  readonly #outageMs: number;

  /** `outageMs`: how long the job API may be unreachable before a command gives up. @default 120000 */
  constructor(address: string, security?: ClientSecurity, outageMs = 120_000) {
    if (!ADDRESS.test(address)) throw new InvalidArgumentError(`--server ${JSON.stringify(address)}: use HOST:PORT`);
    this.#address = address;
    this.#outageMs = outageMs;
    this.#client = new JobServiceClient(address, channelCredentials(security?.tls), clientOptions(security));
  }

  #call<Req, Res>(
    fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((done, fail) =>
      fn.call(this.#client, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
        err ? fail(this.#translate(err)) : done(res),
      ),
    );
  }

  #translate(err: grpc.ServiceError): Error {
    const code = codeOfStatus(err.code);
    if (!code || code === ErrorCode.Unavailable)
      return new UnavailableError(
        `the job API at ${this.#address} did not answer (${readable(err.details || err.message)}): check that \`blockvault serve\` runs there and that --server names its address`,
        { cause: err },
      );
    return new RemoteJobError({ id: '', errorCode: code, error: err.details } as Job);
  }

  /**
   * Submits, watches until the job ends, and returns its result (parsed result_json). The job id
   * goes to stderr as soon as the job is queued. A dropped watch (the scheduler restarting) is
   * reconnected with backoff; only an outage longer than `outageMs` gives up, naming the job. The
   * first Ctrl-C cancels the job (it stops between blocks) and waits for it to end; a second one
   * leaves.
   */
  async run(req: SubmitJobRequest, label: string): Promise<unknown> {
    // A request id chosen here makes a resubmission after a lost answer the same job, never a second run.
    const submitted = { ...req, requestId: req.requestId || randomUUID() };
    // A server that never answered is more often a wrong address than a restart: give up sooner.
    const job = await this.#untilAnswered(
      'submit the job',
      () => this.#call(this.#client.submitJob, submitted),
      Math.min(this.#outageMs, SUBMIT_WAIT_MS),
    );
    process.stderr.write(`blockvault: job ${job.id} queued\n`);
    const bar = progressBar(label);
    const onInterrupt = (): void => {
      process.stderr.write(`\nblockvault: cancelling job ${job.id} (Ctrl-C again to leave it running)\n`);
      process.once('SIGINT', () => process.exit(130));
      this.cancel(job.id).catch((err: unknown) => process.stderr.write(`blockvault: ${(err as Error).message}\n`));
    };
    process.once('SIGINT', onInterrupt);
    try {
      const last = await this.#untilAnswered(`watch job ${job.id}`, async (answered) => {
        const latest = await this.#watchOnce(job.id, (j) => {
          answered();
          this.#progress(bar, j);
        });
        if (!TERMINAL.has(latest.state)) throw new UnavailableError(`the job API stopped watching job ${job.id} before it ended`);
        return latest;
      });
      if (last.state !== JobState.JOB_STATE_SUCCEEDED) throw new RemoteJobError(last);
      return JSON.parse(last.resultJson) as unknown;
    } catch (err) {
      if (err instanceof UnavailableError) {
        throw new UnavailableError(
          `${err.message}; job ${job.id} may still be running: see \`blockvault --server ${this.#address} jobs\``,
          { cause: err },
        );
      }
      throw err;
    } finally {
      process.removeListener('SIGINT', onInterrupt);
      bar.stop();
    }
  }

  /**
   * Runs `fn` until it answers, retrying unavailability with backoff and jitter; the outage
   * budget restarts whenever `fn` reports progress through its `answered` callback.
   */
  async #untilAnswered<T>(what: string, fn: (answered: () => void) => Promise<T>, budgetMs = this.#outageMs): Promise<T> {
    let outageStarted: number | undefined;
    let delay = 250;
    for (;;) {
      try {
        return await fn(() => {
          outageStarted = undefined;
          delay = 250;
        });
      } catch (err) {
        if (!(err instanceof UnavailableError)) throw err;
        const now = performance.now();
        outageStarted ??= now;
        if (now - outageStarted >= budgetMs)
          throw new UnavailableError(
            `cannot ${what}: the job API at ${this.#address} did not answer within ${Math.round(budgetMs / 1000)} s (${err.message})`,
            { cause: err },
          );
        await new Promise((done) => setTimeout(done, delay * (0.5 + Math.random())));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** One WatchJob stream: resolves with the last state seen when the server ends it. */
  #watchOnce(id: string, onJob: (job: Job) => void): Promise<Job> {
    return new Promise<Job>((done, fail) => {
      let latest: Job | undefined;
      const stream = this.#client.watchJob({ id });
      stream.on('data', (j: Job) => {
        latest = j;
        onJob(j);
      });
      stream.on('end', () =>
        latest ? done(latest) : fail(new UnavailableError(`the job API ended the watch of job ${id} without a state`)),
      );
      // A stream that breaks says nothing about the job (only a Job message does): the server
      // went away or restarted, and the watch is reconnected.
      const dropped = new Set<number>([
        grpc.status.CANCELLED,
        grpc.status.UNAVAILABLE,
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.INTERNAL,
      ]);
      stream.on('error', (e: grpc.ServiceError) =>
        fail(
          dropped.has(e.code)
            ? new UnavailableError(`the watch of job ${id} broke: ${readable(e.details || e.message)}`, { cause: e })
            : this.#translate(e),
        ),
      );
    });
  }

  #progress(bar: ReturnType<typeof progressBar>, j: Job): void {
    if (!j.progress || !bar.listener) return;
    const p = j.progress;
    bar.listener({
      operation: 'backup',
      versionUid: j.versionUid,
      blocksDone: p.blocksDone,
      blocksTotal: p.blocksTotal,
      bytesDone: p.bytesDone,
      bytesPerSecond: p.bytesPerSecond,
      etaSeconds: p.etaSeconds < 0 ? null : p.etaSeconds,
    });
  }

  /** Asks a queued or running job to stop. */
  async cancel(id: string): Promise<Job> {
    return this.#call(this.#client.cancelJob, { id });
  }

  /** The newest `limit` jobs, only those in `state` and of `type` when given. */
  async listJobs(limit: number, state: JobState = JobState.JOB_STATE_UNSPECIFIED, type = ''): Promise<Job[]> {
    return (await this.#call(this.#client.listJobs, { limit, state, type })).jobs;
  }

  /** The full uid of the version `ref` names (its uid or a unique prefix, as tables show them). */
  async versionUid(ref: string): Promise<string> {
    return matchVersion((await this.listVersions(undefined, undefined)).versions, ref).uid;
  }

  async listVersions(name: string | undefined, tag: string | undefined): Promise<ListVersionsResponse> {
    return this.#call(this.#client.listVersions, { name: name ?? '', tag: tag ?? '' });
  }

  /** A version by uid or unique prefix, with its blocks by state. */
  async getVersion(ref: string): Promise<VersionDetail> {
    return this.#call(this.#client.getVersion, { uid: ref });
  }

  async getUsage(): Promise<Usage> {
    return this.#call(this.#client.getUsage, {});
  }

  close(): void {
    this.#client.close();
  }
}

/** The job API's Version as the engine's, for the same tables in both modes. */
export function versionOf(v: VersionPb): Version {
  return {
    uid: v.uid,
    name: v.name,
    snapshotName: v.snapshotName,
    date: new Date(v.date),
    size: v.size,
    sizeBytes: v.sizeBytes,
    valid: v.valid,
    protected: v.protected,
    tags: [...v.tags],
    expire: v.expire ? new Date(v.expire) : null,
    stats: v.stats ? { ...v.stats } : null,
  };
}
