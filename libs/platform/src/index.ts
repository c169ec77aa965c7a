export { openEmbedded, type EmbeddedOptions, type EmbeddedRepository } from './embedded.ts';
