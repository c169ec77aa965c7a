/**
 * The worker service as its own deployable: `blockvault serve --target worker` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('worker', 'blockvault-worker');
