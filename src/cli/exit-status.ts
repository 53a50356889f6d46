/**
 * The process's exit status is the command's. A command whose work was left
 * waiting on nothing (no socket, timer or child left to wake it) would
 * otherwise end the process with status 0 and not a word, since Node ends
 * when nothing is left to do: that is a bug in gear, and it says so, with
 * EX_SOFTWARE (sysexits.h).
 */
export const UNFINISHED_STATUS = 70;

export function exitWith(command: Promise<number>): void {
  let finished = false;
  command.then((code) => {
    finished = true;
    process.exitCode = code;
  });
  // 'beforeExit' comes only when the event loop has emptied, never after process.exit().
  process.once('beforeExit', () => {
    if (finished) return;
    process.stderr.write('gear: internal error: the command stopped before it finished (it was left waiting on nothing)\n');
    process.exitCode = UNFINISHED_STATUS;
  });
}
