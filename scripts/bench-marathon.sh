#!/usr/bin/env bash
# The Marathon figures behind BENCHMARKS.md (issue 6). Builds a release binary
# and starts, on free loopback ports, a master, two agents (cgroup isolation,
# AGENT_RES each, each with its own cgroups root) and `strata marathon`, every
# one with its own work dir, then measures:
#   1. the raw spawn rate of `true` (and `strata bench launch`'s end-to-end rate)
#      with SPAWN tasks, before Marathon subscribes;
#   2. one app of BIG instances (`sleep 3600`, 0.01 cpus, 8 MB): time from the
#      POST to all of them TASK_RUNNING (tasksRunning polled every 100 ms);
#   3. with those running: GET /v2/apps latency (200 GETs) and Marathon's RSS;
#   4. APPS more apps of PER instances each (no ports), time to all running
#      (as Marathon reports it, and as the master's master/tasks_running shows
#      it), then GET /v2/apps latency and RSS again (Marathon, master, agents);
#   5. from Marathon's log (kept at info): tasks whose state went from
#      TASK_RUNNING back to TASK_STARTING/STAGING.
# Step 4 gives up after BENCH_TIMEOUT-30 s (default 870 s) and measures anyway;
# as of this writing it always does (see benchmarks-frameworks.md), so a full run
# takes about 17 minutes. BENCH_KEEP_LOGS=DIR keeps the daemons' logs.
# Everything it started, including every task process, is killed on exit.
# Usage: scripts/bench-marathon.sh [BIG=500] [APPS=1000] [PER=2] [SPAWN=500]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIG=${1:-500}
APPS=${2:-1000}
PER=${3:-2}
SPAWN=${4:-500}
# 16 cpus each: 0.01 x (500 + 2,000) tasks need 25 cpus in all.
AGENT_RES=${AGENT_RES:-"cpus:16;mem:32768;disk:10000;ports:[31000-32000]"}
TIMEOUT=${BENCH_TIMEOUT:-900}

if [[ -z "${BENCH_NO_BUILD:-}" ]]; then cargo build --release -p strata >&2; fi
WORK=$(mktemp -d /tmp/strata-bench-marathon.XXXXXX)
TAG=$(basename "$WORK" | tr -c 'a-zA-Z0-9\n' '-')
# A private copy, so that a concurrent rebuild cannot change the binary under the
# run (the agents launch executors from it too).
cp target/release/strata "$WORK/strata"
BIN=$WORK/strata
pids=()
child=
# Runs a step in the background and waits, so that a signal reaches the trap at once.
run() { "$@" & child=$!; local rc=0; wait "$child" || rc=$?; child=; return $rc; }

# Kills every process in the agents' cgroups (the executors and the tasks), then
# removes those cgroups, deepest first; then any process whose cwd is in $WORK.
sweep_tasks() {
    local dirs d p victims
    dirs=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$TAG-a*" 2>/dev/null || true)
    victims=$(
        for d in $dirs; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done
        for p in /proc/[0-9]*; do
            [[ "$(readlink "$p/cwd" 2>/dev/null)/" == "$WORK/"* ]] && echo "${p#/proc/}"
        done | sort -u
    )
    victims=$(sort -u <<<"$victims")
    for p in $victims; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.5
    for d in $dirs; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
    echo "cleanup: killed $(grep -c . <<<"$victims" || true) task and executor processes" >&2
}
cleanup() {
    local rc=$?
    set +e
    # Newest first: the master does not exit on SIGTERM while a framework is subscribed.
    local rev=()
    for p in "${pids[@]}"; do rev=("$p" "${rev[@]}"); done
    for p in "${rev[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${rev[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    sweep_tasks
    if (( rc != 0 )); then
        for f in "$WORK"/*.log; do echo "== tail $f" >&2; tail -5 "$f" >&2; done
    fi
    if [[ -n "${BENCH_KEEP_LOGS:-}" ]]; then
        mkdir -p "$BENCH_KEEP_LOGS" && cp "$WORK"/*.log "$BENCH_KEEP_LOGS"/ && echo "logs kept in $BENCH_KEEP_LOGS" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
MP=$(free_port); A1=$(free_port); A2=$(free_port); MAR=$(free_port)
export RUST_LOG=${RUST_LOG:-warn}

"$BIN" master --ip 127.0.0.1 --port "$MP" --work_dir "$WORK/master" 2>"$WORK/master.log" & pids+=($!); disown $!; MASTER_PID=$!
sleep 0.5
"$BIN" agent --master "127.0.0.1:$MP" --port "$A1" --work_dir "$WORK/a1" --resources "$AGENT_RES" \
    --isolation cgroups --cgroups_root "$TAG-a1" 2>"$WORK/a1.log" & pids+=($!); disown $!; AGENT1_PID=$!
"$BIN" agent --master "127.0.0.1:$MP" --port "$A2" --work_dir "$WORK/a2" --resources "$AGENT_RES" \
    --isolation cgroups --cgroups_root "$TAG-a2" 2>"$WORK/a2.log" & pids+=($!); disown $!; AGENT2_PID=$!
n=0
for _ in $(seq 100); do
    n=$(curl -s "127.0.0.1:$MP/metrics/snapshot" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["master/slaves_active"]))' 2>/dev/null || echo 0)
    [[ "$n" == 2 ]] && break; sleep 0.2
done
[[ "$n" == 2 ]] || { echo "the agents did not register" >&2; exit 1; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cluster: master :$MP, agents :$A1 :$A2 ($AGENT_RES, --isolation cgroups)"
echo "== raw spawn rate ($SPAWN x true) and end-to-end launch through the master"
run timeout 300 "$BIN" bench launch --master "127.0.0.1:$MP" --tasks "$SPAWN"

# Marathon logs at info: every task state change, to check the order of updates.
RUST_LOG=${MARATHON_LOG:-info} "$BIN" marathon --listen "127.0.0.1:$MAR" --master "127.0.0.1:$MP" --work_dir "$WORK/marathon" \
    2>"$WORK/marathon.log" & pids+=($!); disown $!; MAR_PID=$!
ok=0
for _ in $(seq 150); do
    if curl -sf "127.0.0.1:$MAR/v2/info" >/dev/null &&
        curl -s "127.0.0.1:$MP/master/frameworks" | grep -q '"marathon"'; then ok=1; break; fi
    sleep 0.2
done
(( ok )) || { echo "marathon did not subscribe" >&2; exit 1; }
sleep 1
echo "== RSS idle: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, agents $(rss_mb $AGENT1_PID) / $(rss_mb $AGENT2_PID) MB"

M="python3 scripts/bench_marathon.py --server 127.0.0.1:$MAR"
echo "== one app, $BIG instances (Marathon's published figure: 14.2 s for 500 instances on 189 agents)"
c0=$(cpu_s $MAR_PID)
run timeout "$TIMEOUT" $M big --instances "$BIG" --app /bench/big --timeout "$((TIMEOUT - 30))" \
    --master "127.0.0.1:$MP" --master-total "$BIG"
echo "marathon CPU: $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {printf "%.1f", b - a}') s"
sleep 2
echo "== holding 1 app / $BIG tasks"
run timeout 600 $M latency --path /v2/apps --n 200
echo "RSS: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, agents $(rss_mb $AGENT1_PID) / $(rss_mb $AGENT2_PID) MB"

if (( APPS > 0 )); then
    echo "== $APPS more apps x $PER instances (no ports)"
    c0=$(cpu_s $MAR_PID)
    run timeout "$TIMEOUT" $M many --apps "$APPS" --instances "$PER" --ports 0 --prefix /many \
        --concurrency 8 --timeout "$((TIMEOUT - 30))" \
        --master "127.0.0.1:$MP" --master-total "$((BIG + APPS * PER))" || echo "FAILED: not all running (measuring anyway)"
    echo "marathon CPU: $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {printf "%.1f", b - a}') s"
    sleep 2
    total=$((BIG + APPS * PER))
    echo "== holding $((APPS + 1)) apps / $total tasks ($(pgrep -c -f "$WORK/strata executor" || true) executors)"
    run timeout 900 $M latency --path /v2/apps --n 200
    run timeout 300 $M latency --path "/v2/apps/bench/big" --n 200
    run timeout 900 $M latency --path "/v2/tasks" --n 20
    run timeout 300 $M latency --path "/ping" --n 200
    echo "RSS: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, agents $(rss_mb $AGENT1_PID) / $(rss_mb $AGENT2_PID) MB"
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# A task Marathon saw RUNNING must not go back to STAGING/STARTING.
python3 - "$WORK/marathon.log" <<'PY'
import re, sys
seen, back = {}, []
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = re.search(r'task status task_id="?([^"\s]+)"? state="?(\w+)"?', line)
    if not m:
        continue
    t, st = m.groups()
    if seen.get(t) == "TASK_RUNNING" and st in ("TASK_STAGING", "TASK_STARTING"):
        back.append(line.strip())
    seen[t] = st
print(f"marathon: {len(seen)} tasks seen, {len(back)} state changes from TASK_RUNNING back to STAGING/STARTING")
for l in back[:3]:
    print("  " + l[:400])
PY
for f in marathon master a1 a2; do
    echo "$f log: $(grep -c -E "WARN|ERROR" "$WORK/$f.log" || true) WARN/ERROR lines"
    grep -E "WARN|ERROR" "$WORK/$f.log" | head -3 || true
done
