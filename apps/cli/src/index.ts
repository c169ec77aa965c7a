export { buildProgram } from './program.ts';
export { resolveHome } from './cli-context.ts';
export { ExitCode, exitCodeFor } from './exit-codes.ts';
