#!/usr/bin/env bash
# The end-to-end benchmarks behind BENCHMARKS.md. Builds a release binary,
# starts a master and two agents as separate processes on loopback (ports
# 25050-25052), and measures:
#   1. launch throughput: N `true` tasks through the cluster vs raw spawn+wait;
#   2. memory: agent and master RSS idle, and with HOLD running `sleep` tasks,
#      and the resident cost of each command executor (RSS and PSS).
# Usage: scripts/bench.sh [TASKS=2000] [HOLD=100]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TASKS=${1:-2000}
HOLD=${2:-100}
cargo build --release -p strata >&2
WORK=$(mktemp -d /tmp/strata-bench.XXXXXX)
# Private copies, so a concurrent rebuild cannot change the binaries mid-run.
cp target/release/strata target/release/strata-executor "$WORK/"
BIN=$WORK/strata
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pkill -KILL -f "$WORK" 2>/dev/null || true
    # Executors and tasks run in their own process groups with cwd in a sandbox under $WORK.
    for proc in /proc/[0-9]*; do
        case "$(readlink "$proc/cwd" 2>/dev/null)" in "$WORK"/*) kill -9 "${proc#/proc/}" 2>/dev/null || true ;; esac
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" master --port 25050 --work_dir "$WORK/master" 2>"$WORK/master.log" & pids+=($!); MASTER_PID=$!
sleep 0.5
RES="cpus:2;mem:8192;disk:10000;ports:[31000-32000]"
"$BIN" agent --master 127.0.0.1:25050 --port 25051 --work_dir "$WORK/a1" --resources "$RES" 2>"$WORK/a1.log" & pids+=($!); AGENT_PID=$!
"$BIN" agent --master 127.0.0.1:25050 --port 25052 --work_dir "$WORK/a2" --resources "$RES" 2>"$WORK/a2.log" & pids+=($!)
for _ in $(seq 50); do
    n=$(curl -s localhost:25050/metrics/snapshot | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["master/slaves_active"]))' 2>/dev/null || echo 0)
    [[ "$n" == 2 ]] && break; sleep 0.2
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "== launch: $TASKS tasks"
"$BIN" bench launch --master 127.0.0.1:25050 --tasks "$TASKS"

sleep 2
echo "== memory"
echo "master RSS idle (after the launch run): $(rss_kb $MASTER_PID) KB"
echo "agent RSS idle: $(rss_kb $AGENT_PID) KB"
M0=$(rss_kb $MASTER_PID)
"$BIN" bench hold --master 127.0.0.1:25050 --tasks "$HOLD" --seconds 8 > "$WORK/hold.out" &
HOLD_PID=$!
for _ in $(seq 300); do grep -q RUNNING "$WORK/hold.out" 2>/dev/null && break; sleep 0.2; done
sleep 3
M1=$(rss_kb $MASTER_PID)
echo "master RSS with $HOLD running tasks: $M1 KB (delta $((M1 - M0)) KB, $(( (M1 - M0) * 1024 / HOLD )) bytes/task)"
echo "agent RSS with its share of $HOLD running tasks: $(rss_kb $AGENT_PID) KB"
# This run's command executors: the processes of $WORK/strata-executor.
exec_pids=$(for proc in /proc/[0-9]*; do
    [[ "$(readlink "$proc/exe" 2>/dev/null)" == "$WORK/strata-executor" ]] && echo "${proc#/proc/}"
done)
n=0; rss=0; pss=0
for p in $exec_pids; do
    r=$(rss_kb "$p" 2>/dev/null || echo 0); s=$(pss_kb "$p" 2>/dev/null || echo 0)
    n=$((n + 1)); rss=$((rss + r)); pss=$((pss + s))
done
if (( n > 0 )); then
    echo "command executors: $n, mean RSS $((rss / n)) KB, mean PSS $((pss / n)) KB"
fi
wait $HOLD_PID
