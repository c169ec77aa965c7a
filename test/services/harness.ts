/** Clients and helpers for the services' end-to-end tests. */
import * as grpc from '@grpc/grpc-js';
import { JobServiceClient, type Job, type SubmitJobRequest } from '@blockvault/proto';

export function client(port: number): JobServiceClient {
  return new JobServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function call<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((done, fail) => fn(req, (err, res) => (err ? fail(err) : done(res))));
}

export function submit(c: JobServiceClient, req: SubmitJobRequest): Promise<Job> {
  return call(c.submitJob.bind(c), req);
}

/** Watches a job until it ends; returns every state seen. */
export function watch(c: JobServiceClient, id: string): Promise<Job[]> {
  return new Promise((done, fail) => {
    const seen: Job[] = [];
    const stream = c.watchJob({ id });
    stream.on('data', (j: Job) => seen.push(j));
    stream.on('end', () => done(seen));
    stream.on('error', fail);
  });
}
