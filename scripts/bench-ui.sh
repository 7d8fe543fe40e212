#!/usr/bin/env bash
# The web UI figures behind BENCHMARKS.md (issue 8). Builds a release binary and
# runs the ignored test ui::ui_scale_bench (tests/tests/e2e/ui.rs) against a
# private copy of it, which:
#   1. starts a master and AGENTS simulated agents (`strata bench sim-agents`:
#      the real agent link to the real master, tasks reported STARTING then
#      RUNNING without any process), PER_CONNECTION agents per HTTP/2
#      connection (default 1, as real agents);
#   2. launches TASKS tasks with `strata bench hold` (a framework on the public
#      scheduler API that acknowledges every update), spread evenly;
#   3. measures the server time and size of every /api/v1/ui view (and of
#      /master/state, which the UI never reads), the master's RSS, and the time
#      to first render of the overview, tasks and roles pages in headless
#      Chromium (cold loads, median of 5);
#   4. measures the master's CPU, quiet and while a second framework launches
#      and kills LAUNCH more tasks, without browsers and then with BROWSERS
#      headless Chromiums watching the overview.
# It prints a table (`| what | figure |`) at the end. Every wait in the test is
# bounded (registration 30 min, the launch 60 min); whatever the test started
# is stopped when it ends, and on exit this script also kills anything still
# running from its private directory (the binary's copy, the cluster's work
# dirs and the browsers' profiles live there).
# Usage: scripts/bench-ui.sh [AGENTS=10000] [TASKS=100000] [BROWSERS=20] [LAUNCH=10000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AGENTS=${1:-10000}
TASKS=${2:-100000}
BROWSERS=${3:-20}
LAUNCH=${4:-10000}
PER_CONNECTION=${PER_CONNECTION:-1}

scripts/setup-browser.sh
if [[ -z "${BENCH_NO_BUILD:-}" ]]; then cargo build --release -p strata >&2; fi
WORK=$(mktemp -d /tmp/strata-bench-ui.XXXXXX)
# A private copy, so that a concurrent rebuild cannot change the binary under the run.
cp target/release/strata "$WORK/strata"

child=
cleanup() {
    local p
    [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null
    for p in /proc/[0-9]*; do
        if [[ "$(readlink "$p/exe" 2>/dev/null)" == "$WORK/strata" ]] \
            || tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$WORK/"; then
            kill -KILL "${p#/proc/}" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The master and the simulated agents each hold a socket per connection.
want=$(( AGENTS / PER_CONNECTION + 4096 ))
if (( $(ulimit -n) < want )); then ulimit -n "$(( want < $(ulimit -Hn) ? want : $(ulimit -Hn) ))"; fi

echo "== UI at scale: $AGENTS simulated agents ($PER_CONNECTION per connection), $TASKS tasks, $BROWSERS browsers, $LAUNCH more tasks launched beside them" >&2
# TMPDIR puts the cluster and the browser profiles under $WORK.
TMPDIR=$WORK STRATA_BIN=$WORK/strata \
    STRATA_UI_SCALE_AGENTS=$AGENTS STRATA_UI_SCALE_TASKS=$TASKS \
    STRATA_UI_SCALE_BROWSERS=$BROWSERS STRATA_UI_SCALE_LAUNCH=$LAUNCH \
    STRATA_UI_SCALE_PER_CONNECTION=$PER_CONNECTION \
    cargo test -p strata-tests --test e2e ui_scale_bench -- --ignored --nocapture --test-threads 1 &
# Waited for in the background, so that a signal reaches the traps at once.
child=$!
wait "$child"
child=
