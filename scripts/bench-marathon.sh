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
#      it), then GET /v2/apps latency and RSS again (Marathon, master, agents),
#      and Marathon's CPU while it holds them (HOLD_S seconds, nothing changing);
#   5. Marathon's own counters (reconcile passes, apps planned, late duplicate
#      updates ignored) and, from its log (kept at info), tasks whose state went
#      from TASK_RUNNING back to TASK_STARTING/STAGING.
# Step 4 gives up after BENCH_TIMEOUT-30 s (default 870 s) and measures anyway.
# BENCH_KEEP_LOGS=DIR keeps the daemons' logs.
# Each task is real: the command executor, `sh -c` and `sleep` (three processes,
# and the executor's threads count against kernel.pid_max too). When the run needs
# more PIDs than kernel.pid_max allows, the script raises it for the run (root
# only) and puts the old value back on exit; it says so when it does. It also
# raises the open-files limit for the daemons it starts (each executor holds a
# connection to its agent). The machine is shared: if its available memory falls
# below MIN_AVAIL_MB (default 2048) the run stops itself and says so.
# SIM_AGENTS=N replaces the two real agents with N simulated ones
# (`strata bench sim-agents`: the real agent link to the real master, tasks
# reported STARTING then RUNNING without any process); step 1 is skipped then.
# POST_RATE=R paces step 4 at R app POSTs per second (default: as fast as 8
# threads go), for agents that cannot start every task at once.
# Everything it started, including every task process, is killed on exit.
# Usage: scripts/bench-marathon.sh [BIG=500] [APPS=1000] [PER=2] [SPAWN=500]
# The issue's 1,000 apps and 10,000 tasks: scripts/bench-marathon.sh 500 999 10
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIG=${1:-500}
APPS=${2:-1000}
PER=${3:-2}
SPAWN=${4:-500}
TOTAL=$((BIG + APPS * PER))
# Declared, not real, capacity: 0.01 cpus and 8 MB per task over two agents, with
# a quarter to spare (at least 16 cpus each). The tasks are `sleep`s.
if [[ -z "${AGENT_RES:-}" ]]; then
    cpus=$(( (TOTAL * 125 / 2 + 9999) / 10000 )); (( cpus < 16 )) && cpus=16
    mem=$(( TOTAL * 8 * 125 / 200 )); (( mem < 32768 )) && mem=32768
    AGENT_RES="cpus:$cpus;mem:$mem;disk:10000;ports:[31000-32000]"
fi
TIMEOUT=${BENCH_TIMEOUT:-900}
HOLD_S=${HOLD_S:-30}
SIM_AGENTS=${SIM_AGENTS:-0}
SIM_RES=${SIM_RES:-"cpus:16;mem:65536;disk:100000;ports:[31000-32000]"}
POST_RATE=${POST_RATE:-0}

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
PID_MAX_WAS=
WATCHDOG=
cleanup() {
    local rc=$?
    set +e
    [[ -n "$WATCHDOG" ]] && kill "$WATCHDOG" 2>/dev/null
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
    if [[ -n "$PID_MAX_WAS" ]]; then
        echo "$PID_MAX_WAS" >/proc/sys/kernel/pid_max && echo "kernel.pid_max restored to $PID_MAX_WAS" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
MP=$(free_port); A1=$(free_port); A2=$(free_port); MAR=$(free_port)
export RUST_LOG=${RUST_LOG:-warn}

# PIDs: per task the executor (about 6 threads), sh and sleep; plus what runs now.
in_use=$(ls -d /proc/[0-9]*/task/[0-9]* 2>/dev/null | wc -l)
need=$(( in_use + TOTAL * 9 + 10000 ))
have=$(cat /proc/sys/kernel/pid_max)
if (( SIM_AGENTS == 0 && need > have )); then
    if [[ -w /proc/sys/kernel/pid_max ]] && echo "$need" >/proc/sys/kernel/pid_max 2>/dev/null; then
        PID_MAX_WAS=$have
        echo "== kernel.pid_max raised from $have to $need for this run ($in_use threads in use; restored on exit)"
    else
        echo "== WARNING: $TOTAL tasks may need $need PIDs, kernel.pid_max is $have and not writable" >&2
    fi
fi
ulimit -n "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
mem_used_mb() { free -m | awk '/^Mem:/ {print $3}'; }
MEM0=$(mem_used_mb)
MIN_AVAIL_MB=${MIN_AVAIL_MB:-2048}
(
    while sleep 1; do
        avail=$(awk '/^MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
        if (( avail < MIN_AVAIL_MB )); then
            echo "== ABORT: $avail MB of memory available (below $MIN_AVAIL_MB); stopping the run" >&2
            kill -TERM $$
            exit
        fi
    done
) & WATCHDOG=$!

"$BIN" master --ip 127.0.0.1 --port "$MP" --work_dir "$WORK/master" 2>"$WORK/master.log" & pids+=($!); disown $!; MASTER_PID=$!
sleep 0.5
if (( SIM_AGENTS > 0 )); then
    AGENTS=$SIM_AGENTS
    "$BIN" bench sim-agents --master "127.0.0.1:$MP" --agents "$SIM_AGENTS" --resources "$SIM_RES" \
        --agents-per-connection "${SIM_PER_CONNECTION:-50}" --seconds "$((TIMEOUT * 3 + 900))" \
        >"$WORK/sim.log" 2>&1 & pids+=($!); disown $!; SIM_PID=$!
    agents_rss() { echo "sim-agents $(rss_mb $SIM_PID) MB"; }
else
    AGENTS=2
    "$BIN" agent --master "127.0.0.1:$MP" --port "$A1" --work_dir "$WORK/a1" --resources "$AGENT_RES" \
        --isolation cgroups --cgroups_root "$TAG-a1" 2>"$WORK/a1.log" & pids+=($!); disown $!; AGENT1_PID=$!
    "$BIN" agent --master "127.0.0.1:$MP" --port "$A2" --work_dir "$WORK/a2" --resources "$AGENT_RES" \
        --isolation cgroups --cgroups_root "$TAG-a2" 2>"$WORK/a2.log" & pids+=($!); disown $!; AGENT2_PID=$!
    agents_rss() { echo "agents $(rss_mb $AGENT1_PID) / $(rss_mb $AGENT2_PID) MB"; }
fi
n=0
for _ in $(seq 300); do
    n=$(curl -s "127.0.0.1:$MP/metrics/snapshot" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["master/slaves_active"]))' 2>/dev/null || echo 0)
    [[ "$n" == "$AGENTS" ]] && break; sleep 0.2
done
[[ "$n" == "$AGENTS" ]] || { echo "the agents did not register ($n of $AGENTS)" >&2; exit 1; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $MEM0 MB used before the run, open files limit $(ulimit -n)"
if (( SIM_AGENTS > 0 )); then
    echo "== cluster: master :$MP, $SIM_AGENTS SIMULATED agents ($SIM_RES; nothing runs, tasks are reported RUNNING)"
else
    echo "== cluster: master :$MP, agents :$A1 :$A2 ($AGENT_RES, --isolation cgroups)"
    echo "== raw spawn rate ($SPAWN x true) and end-to-end launch through the master"
    run timeout 300 "$BIN" bench launch --master "127.0.0.1:$MP" --tasks "$SPAWN"
fi

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
echo "== RSS idle: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, $(agents_rss)"

M="python3 scripts/bench_marathon.py --server 127.0.0.1:$MAR"
echo "== one app, $BIG instances (Marathon's published figure: 14.2 s for 500 instances on 189 agents)"
c0=$(cpu_s $MAR_PID)
run timeout "$TIMEOUT" $M big --instances "$BIG" --app /bench/big --timeout "$((TIMEOUT - 30))" \
    --master "127.0.0.1:$MP" --master-total "$BIG"
echo "marathon CPU: $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {printf "%.1f", b - a}') s"
$M spread --path /v2/apps/bench/big
sleep 2
echo "== holding 1 app / $BIG tasks"
run timeout 600 $M latency --path /v2/apps --n 200
echo "RSS: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, $(agents_rss)"

if (( APPS > 0 )); then
    echo "== $APPS more apps x $PER instances (no ports)"
    c0=$(cpu_s $MAR_PID)
    run timeout "$TIMEOUT" $M many --apps "$APPS" --instances "$PER" --ports 0 --prefix /many \
        --concurrency 8 --rate "$POST_RATE" --timeout "$((TIMEOUT - 30))" \
        --master "127.0.0.1:$MP" --master-total "$((BIG + APPS * PER))" || echo "FAILED: not all running (measuring anyway)"
    echo "marathon CPU: $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {printf "%.1f", b - a}') s"
    # Settled: no instance record waiting for the store, and under 0.2 s of CPU in 2 s.
    t0=$SECONDS
    for _ in $(seq 90); do
        c0=$(cpu_s $MAR_PID); sleep 2
        busy=$(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {print (b - a >= 0.2)}')
        pending=$(curl -s "127.0.0.1:$MAR/metrics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gauges"]["marathon.store.pending-instance-writes.gauge"]["value"])' 2>/dev/null || echo "?")
        [[ "$busy" == 0 && "$pending" == 0 ]] && break
    done
    echo "marathon settled (no record waiting for the store, idle) $((SECONDS - t0)) s after reporting all running; pending writes $pending"
    echo "== holding $((APPS + 1)) apps / $TOTAL tasks ($(pgrep -c -f "$WORK/strata executor" || true) executors; machine memory in use $(( $(mem_used_mb) - MEM0 )) MB more than before the run)"
    c0=$(cpu_s $MAR_PID)
    sleep "$HOLD_S"
    echo "marathon CPU while holding (nothing changing): $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" -v t="$HOLD_S" 'BEGIN {printf "%.2f s in %d s", b - a, t}')"
    c0=$(cpu_s $MAR_PID)
    run timeout 900 $M latency --path /v2/apps --n 200
    echo "marathon CPU per GET /v2/apps: $(awk -v a="$c0" -v b="$(cpu_s $MAR_PID)" 'BEGIN {printf "%.1f ms", (b - a) * 1000 / 200}')"
    run timeout 300 $M latency --path "/v2/apps/bench/big" --n 200
    run timeout 900 $M latency --path "/v2/tasks" --n 20
    run timeout 300 $M latency --path "/ping" --n 200
    echo "RSS: marathon $(rss_mb $MAR_PID) MB, master $(rss_mb $MASTER_PID) MB, $(agents_rss)"
    $M spread --path /v2/tasks
fi
$M counters
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
for f in marathon master a1 a2 sim; do
    [[ -f "$WORK/$f.log" ]] || continue
    echo "$f log: $(grep -c -E "WARN|ERROR" "$WORK/$f.log" || true) WARN/ERROR lines"
    grep -E "WARN|ERROR" "$WORK/$f.log" | head -3 || true
done
