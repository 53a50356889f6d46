import { runProgram } from './program.js';

/** The gear CLI (src/cli/program.ts): its exit code. */
runProgram(process.argv).then((code) => {
  process.exitCode = code;
});
