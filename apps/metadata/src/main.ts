/**
 * The metadata service as its own deployable: `blockvault serve --target metadata` configured from the
 * environment (libs/platform/src/serve.ts, runServiceFromEnv).
 */
import { runServiceFromEnv } from '@blockvault/platform/serve';

await runServiceFromEnv('metadata', 'blockvault-metadata');
