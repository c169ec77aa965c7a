export {
  ACK_WAIT_MS,
  checkJobId,
  isTerminal,
  JOB_TYPES,
  jobType,
  MAX_ATTEMPTS,
  newJob,
  type JobConsumer,
  type JobDelivery,
  type JobQueue,
} from './queue.ts';
export {
  JetStreamJobQueue,
  JOBS_BUCKET,
  JOBS_STREAM,
  JOBS_SUBJECT,
  WORKERS_CONSUMER,
  type JetStreamQueueOptions,
} from './jetstream-queue.ts';
export { MemoryJobQueue } from './memory-queue.ts';
export { DEFAULT_OUTAGE_RETRY_MS, Worker, type WorkerOptions } from './worker.ts';
export { runJob } from './run-job.ts';
export {
  jobReads,
  jobService,
  serveJobApi,
  MAX_MESSAGE_BYTES,
  type GrpcServer,
  type JobReads,
  type JobServiceDeps,
} from './job-service.ts';
export { DashboardServer, type DashboardOptions } from './dashboard.ts';
export { DEFAULT_TICK_MS, SchedulerLoop, type SchedulerOptions } from './scheduler.ts';
