export { JobQueue, isTerminal, jobType, JOBS_STREAM, JOBS_BUCKET, MAX_ATTEMPTS, ACK_WAIT_MS } from './job-queue.ts';
export { Worker, type WorkerOptions } from './worker.ts';
export { runJob } from './run-job.ts';
export { jobService, serveJobApi, MAX_MESSAGE_BYTES, type GrpcServer, type JobServiceDeps } from './job-service.ts';
export { SchedulerLoop, type SchedulerOptions } from './scheduler.ts';
