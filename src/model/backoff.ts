import { shellWord } from './systemd-quote.js';

/**
 * Restart backoff (systemd 252 on Debian 12 has no RestartSteps=, which came
 * in 254): capped exponential delays between restarts after failures, kept
 * by the unit itself in one small file per container on /run:
 *
 *   /run/gear-backoff/NAME: "FAILURES UNTIL" (failures in a row, and the
 *   epoch second before which the next start waits: at least the announced
 *   delay after the failure, at most a second more).
 *
 * - ExecStopPost, after a run that failed ($SERVICE_RESULT is not
 *   "success"): one more failure; the next start waits
 *   min(BASE * 2^(FAILURES-1), MAX) seconds (on top of RestartSec=).
 *   After a clean stop the file goes.
 * - ExecStartPre: waits until UNTIL, saying so in the journal ("gear:
 *   backing off after N failures in a row: next try in D s"); the unit is
 *   "activating (start-pre)" meanwhile, and `gear status` reads the file.
 * - A healthy run resets it: the health gate removes the file once the
 *   container is healthy; without a health check, a run that lasted MAX
 *   seconds or more counts as healthy (its failure is then the first).
 * - StartLimitIntervalSec=0: systemd's start limit never stops the unit
 *   for good; the backoff bounds the rate instead.
 * - `gear start`/`restart` remove the file: a start a user asks for is
 *   immediate.
 */
// The containers' own runtime state, beside the agent's /run/gear rather than in it: the units
// keep running (and counting) when the agent is uninstalled.
export const BACKOFF_DIR = '/run/gear-backoff';
export const BACKOFF_BASE_S = 1;
export const BACKOFF_MAX_S = 60;

export const backoffFile = (id: string) => `${BACKOFF_DIR}/${id}`;

/** The delay before the start after `failures` failures in a row (seconds). */
export const backoffDelay = (failures: number) => (failures <= 0 ? 0 : Math.min(BACKOFF_BASE_S * 2 ** Math.min(failures - 1, 30), BACKOFF_MAX_S));

/** ExecStartPre: wait out the backoff, then note when this run started (for the reset without a health check). */
export function backoffWaitScript(id: string): string {
  const f = shellWord(backoffFile(id));
  return (
    `n=0; u=0; [ -r ${f} ] && read -r n u s < ${f}; now=$(date +%s); ` +
    `case "$n" in ''|*[!0-9]*) n=0;; esac; case "$u" in ''|*[!0-9]*) u=0;; esac; ` +
    `if [ "$n" -gt 0 ] && [ "$u" -gt "$now" ]; then ` +
    // A stop while it waits is a clean one (SIGTERM ends the wait with 0, not a failure). sh runs a
    // trap only once its foreground command is done, so the wait is one-second sleeps: a SIGTERM
    // to sh alone ends it within a second. (A background sleep killed from the trap could survive:
    // a SIGTERM that reaches the forked child before it has exec'd sleep is caught by the shell's
    // own handler there and lost, and the orphan kept the unit's stdout open for the whole wait.)
    `trap 'exit 0' TERM; echo "gear: backing off after $n failures in a row: next try in $((u - now)) s"; ` +
    `while [ "$(date +%s)" -lt "$u" ]; do sleep 1; done; trap - TERM; fi; ` +
    `mkdir -p ${shellWord(BACKOFF_DIR)} && echo "$n 0 $(date +%s)" > ${f}.tmp && mv -f ${f}.tmp ${f}`
  );
}

/** ExecStopPost: count a failure and set the next start's time, or forget it all after a clean stop. */
export function backoffCountScript(id: string): string {
  const f = shellWord(backoffFile(id));
  // The delay doubles per failure: a loop, since sh has no power operator.
  return (
    `if [ "$SERVICE_RESULT" = success ]; then rm -f ${f}; exit 0; fi; ` +
    `n=0; s=0; [ -r ${f} ] && read -r n u s < ${f}; now=$(date +%s); ` +
    `case "$n" in ''|*[!0-9]*) n=0;; esac; case "$s" in ''|*[!0-9]*) s=0;; esac; ` +
    // A run of MAX seconds or more was a good one: this failure is the first.
    `if [ "$s" -gt 0 ] && [ $((now - s)) -ge ${BACKOFF_MAX_S} ]; then n=0; fi; ` +
    `n=$((n + 1)); d=${BACKOFF_BASE_S}; i=1; while [ $i -lt $n ] && [ $d -lt ${BACKOFF_MAX_S} ]; do d=$((d * 2)); i=$((i + 1)); done; ` +
    `[ $d -gt ${BACKOFF_MAX_S} ] && d=${BACKOFF_MAX_S}; ` +
    // UNTIL is one second more than now + d: `date +%s` drops the failure's fraction of a second,
    // and the wait then sleeps whole seconds from its own truncated now, so without it a start
    // could come up to a second before the announced wait was over (seen: 3.98 s of "4 s").
    `mkdir -p ${shellWord(BACKOFF_DIR)} && echo "$n $((now + d + 1)) 0" > ${f}.tmp && mv -f ${f}.tmp ${f}; ` +
    `echo "gear: failure $n in a row ($SERVICE_RESULT): the next start waits $d s"`
  );
}

/** The health gate's reset: a healthy run forgets the failures. */
export const backoffResetScript = (id: string) => `rm -f ${shellWord(backoffFile(id))}; `;

/** What the file says, for status: failures in a row, and seconds until the next try (0: none pending). */
export function parseBackoff(text: string | undefined, nowS: number): { Failures: number; NextTryInS: number } | undefined {
  const m = /^([0-9]+) ([0-9]+)/.exec(text ?? '');
  if (!m) return undefined;
  const failures = Number(m[1]);
  if (failures === 0) return undefined;
  return { Failures: failures, NextTryInS: Math.max(0, Number(m[2]) - nowS) };
}
