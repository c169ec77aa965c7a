export { parseRbdUrl, RbdIo, type LiveImportHooks, type RbdName, type RbdOptions } from './rbd-io.ts';
