import { readFileSync } from 'node:fs';

/**
 * Who is writing: a tag of this process's pid and start time, put in the
 * names of in-flight files (lock staging directories, temp files), so that
 * repair can tell one whose writer was killed at once, without waiting for
 * it to age. The start time tells a live writer from a later process that
 * reused its pid.
 */

/** Field 22 of /proc/PID/stat: the process's start time, in clock ticks since boot. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let tag: string | undefined;
/** PID-START of this process (read once: fixed for its life). */
export const writerTag = () => (tag ??= `${process.pid}-${startTimeOf(process.pid) ?? 0}`);

/** True when the writer PID-START is gone (false when the name carries no tag). */
export const writerGone = (pid: string | undefined, start: string | undefined) => !!pid && startTimeOf(Number(pid)) !== start;
