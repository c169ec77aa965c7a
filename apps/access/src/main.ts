/**
 * Instant access as its own deployable: `blockvault serve --target access` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv): every valid version of the
 * deployment over NBD (BLOCKVAULT_NBD_LISTEN) and HTTP ranges (BLOCKVAULT_HTTP_LISTEN).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('access', 'blockvault-access');
