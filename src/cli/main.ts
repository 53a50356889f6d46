import { exitWith } from './exit-status.js';
import { runProgram } from './program.js';

/**
 * The gear CLI (src/cli/program.ts): its exit code. Called as `gear -c
 * COMMAND` it is an SSH login's shell (cli/ssh-login.ts).
 */
exitWith(process.argv[2] === '-c' ? import('./ssh-login.js').then((m) => m.loginShell(process.argv.slice(2))) : runProgram(process.argv));
