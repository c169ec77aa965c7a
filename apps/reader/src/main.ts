/**
 * The reader service as its own deployable: `blockvault serve --target reader` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('reader', 'blockvault-reader');
