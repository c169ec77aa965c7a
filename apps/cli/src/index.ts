export { buildProgram } from './program.ts';
export { configOf } from './cli-context.ts';
export { ExitCode, exitCodeFor } from './exit-codes.ts';
