export { parseRbdUrl, RbdIo, type RbdName, type RbdOptions } from './rbd-io.ts';
