/**
 * `--server HOST:PORT`: the same commands against a deployment's job API. A command becomes a
 * job; the CLI watches it (a progress bar on a terminal) and prints the job's result exactly as
 * the embedded mode prints it, with the same exit codes.
 */
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, InvalidArgumentError, UnavailableError } from '@blockvault/core';
import { channelCredentials, clientOptions, codeOfStatus, type ClientSecurity } from '@blockvault/grpc-edge';
import { JobServiceClient, JobState, type Job, type ListVersionsResponse, type SubmitJobRequest } from '@blockvault/proto';
import { exitCodeForCode } from './exit-codes.ts';
import { progressBar } from './progress.ts';

const ADDRESS = /^[A-Za-z0-9.-]+:\d{1,5}$/;

/** A job that failed: carries the server's error code so that the exit code matches. */
class RemoteJobError extends Error {
  readonly code: string;
  constructor(job: Job) {
    super(
      !job.id
        ? job.error
        : job.state === JobState.JOB_STATE_CANCELLED
          ? `job ${job.id} was cancelled`
          : `job ${job.id} failed: ${job.error}`,
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

  constructor(address: string, security?: ClientSecurity) {
    if (!ADDRESS.test(address)) throw new InvalidArgumentError(`--server ${JSON.stringify(address)}: use HOST:PORT`);
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
      return new UnavailableError(`the server did not answer: ${err.details || err.message}`, { cause: err });
    return new RemoteJobError({ id: '', errorCode: code, error: err.details } as Job);
  }

  /**
   * Submits, watches until the job ends, and returns its result (parsed result_json). The first
   * Ctrl-C cancels the job (it stops between blocks) and waits for it to end; a second one leaves.
   */
  async run(req: SubmitJobRequest, label: string): Promise<unknown> {
    const job = await this.#call(this.#client.submitJob, req);
    const bar = progressBar(label);
    const onInterrupt = (): void => {
      process.stderr.write(`\nblockvault: cancelling job ${job.id} (Ctrl-C again to leave it running)\n`);
      process.once('SIGINT', () => process.exit(130));
      this.cancel(job.id).catch((err: unknown) => process.stderr.write(`blockvault: ${(err as Error).message}\n`));
    };
    process.once('SIGINT', onInterrupt);
    try {
      const last = await new Promise<Job>((done, fail) => {
        let latest = job;
        const stream = this.#client.watchJob({ id: job.id });
        stream.on('data', (j: Job) => {
          latest = j;
          if (j.progress && bar.listener) {
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
        });
        stream.on('end', () => done(latest));
        stream.on('error', (e: grpc.ServiceError) => fail(this.#translate(e)));
      });
      if (last.state !== JobState.JOB_STATE_SUCCEEDED) throw new RemoteJobError(last);
      return JSON.parse(last.resultJson) as unknown;
    } finally {
      process.removeListener('SIGINT', onInterrupt);
      bar.stop();
    }
  }

  /** Asks a queued or running job to stop. */
  async cancel(id: string): Promise<Job> {
    return this.#call(this.#client.cancelJob, { id });
  }

  async listJobs(limit: number): Promise<Job[]> {
    return (await this.#call(this.#client.listJobs, { limit })).jobs;
  }

  async listVersions(name: string | undefined, tag: string | undefined): Promise<ListVersionsResponse> {
    return this.#call(this.#client.listVersions, { name: name ?? '', tag: tag ?? '' });
  }

  close(): void {
    this.#client.close();
  }
}
