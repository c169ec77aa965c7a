/**
 * The blob-store service as its own deployable: `blockvault serve --target blob-store` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('blob-store', 'blockvault-blob-store');
