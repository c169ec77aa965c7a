/**
 * The scheduler service as its own deployable: `blockvault serve --target scheduler` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('scheduler', 'blockvault-scheduler');
