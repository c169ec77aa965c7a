export { FileIo } from './file-io.ts';
