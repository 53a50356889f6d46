# Sourced by tests/run.sh and bench/run.sh: one run per checkout. Both
# rebuild dist/ (which the agents in the test hosts run) and tear their hosts
# down at exit, so a second run in the same checkout breaks the first.
# A pid file, not a lock on a descriptor: the hosts and background builds
# would inherit the descriptor and hold the lock after the run.
run_guard=.gear-run.pid
claim_checkout() {
  local holder
  holder=$(cat "$run_guard" 2>/dev/null)
  if [ -n "$holder" ] && [ "$holder" != $$ ] && kill -0 "$holder" 2>/dev/null; then
    echo "$1: another test or bench run (pid $holder) is using this checkout; wait for it, or use another clone" >&2
    return 1
  fi
  echo $$ >"$run_guard"
}
release_checkout() {
  [ "$(cat "$run_guard" 2>/dev/null)" = $$ ] && rm -f "$run_guard"
  return 0
}
