export { buildProgram, resolveHome } from './program.ts';
export { ExitCode, exitCodeFor } from './exit-codes.ts';
