#!/usr/bin/env bash
# Failover figures for BENCHMARKS.md (release build, one machine, loopback):
#   1. leader failover: 3 masters on a real ZooKeeper, AGENTS agents, TASKS running
#      tasks; kill -9 the leader; time until a new leader serves /master/state with
#      every agent active, every task TASK_RUNNING, and offers flowing again;
#   2. agent recovery: kill -9 one agent holding tasks, restart it with the same
#      work dir; time until the master shows it active with its tasks running and
#      its executors have re-subscribed.
# Usage: scripts/bench-ha.sh [AGENTS=3] [TASKS=30]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AGENTS=${1:-3}
TASKS=${2:-30}
scripts/setup-zookeeper.sh >/dev/null
cargo build --release -p strata >&2
BIN=$PWD/target/release/strata
WORK=$(mktemp -d /tmp/strata-bench-ha.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [[ -n "${ZK_PID:-}" ]] && kill -9 -- "-$ZK_PID" 2>/dev/null || true
    pkill -KILL -f "$WORK" 2>/dev/null || true
    # Executors and tasks run in their own process groups with cwd in a sandbox under $WORK.
    for proc in /proc/[0-9]*; do
        case "$(readlink "$proc/cwd" 2>/dev/null)" in "$WORK"/*) kill -9 "${proc#/proc/}" 2>/dev/null || true ;; esac
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }

ZK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/zk"
cat > "$WORK/zk.cfg" <<CFG
tickTime=2000
dataDir=$WORK/zk
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
CFG
setsid java -cp '/usr/share/java/*:/usr/share/zookeeper/*' org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk.cfg" >"$WORK/zk.log" 2>&1 &
ZK_PID=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$ZK_PORT) 2>/dev/null && break; sleep 0.1; done
ZK="zk://127.0.0.1:$ZK_PORT/strata"

now() { date +%s.%N; }
declare -a MPORTS MPIDS
for i in 0 1 2; do
    MPORTS[$i]=$((26050 + i * 10))
    "$BIN" master --port "${MPORTS[$i]}" --zk "$ZK" --work_dir "$WORK/m$i" --agent_ping_timeout 2secs --max_agent_ping_timeouts 10 2>"$WORK/m$i.log" &
    MPIDS[$i]=$!; pids+=($!)
done
for a in $(seq 1 "$AGENTS"); do
    "$BIN" agent --master "$ZK" --port $((26100 + a)) --work_dir "$WORK/a$a" --resources "cpus:4;mem:8192;disk:1000;ports:[31000-32000]" 2>"$WORK/a$a.log" &
    pids+=($!); eval "APID_$a=$!"
done

leader() {
    for i in 0 1 2; do
        curl -s -m 1 "localhost:${MPORTS[$i]}/master/state" 2>/dev/null \
            | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s.get("pid") and s.get("pid")==s.get("leader") else 1)' 2>/dev/null \
            && { echo "$i"; return 0; }
    done
    return 1
}
healthy() { # $1 = master index: all agents active, all tasks running
    curl -s -m 1 "localhost:${MPORTS[$1]}/master/state" | python3 -c "
import json,sys
s=json.load(sys.stdin)
agents=sum(1 for a in s['slaves'] if a['active'])
running=sum(1 for f in s['frameworks'] for t in f['tasks'] if t['state']=='TASK_RUNNING')
sys.exit(0 if agents==$AGENTS and running==$TASKS else 1)" 2>/dev/null
}
for _ in $(seq 200); do L=$(leader) && break; sleep 0.1; done
[[ -n "${L:-}" ]] || fail "no leader elected"
echo "== machine: $(nproc) cores; $AGENTS agents, $TASKS tasks, 3 masters, ZooKeeper $(ls /usr/share/java/zookeeper*.jar | head -1 | xargs basename)"
"$BIN" bench hold --master "$ZK" --tasks "$TASKS" --seconds 600 > "$WORK/hold.out" 2>"$WORK/hold.err" &
pids+=($!)
for _ in $(seq 600); do grep -q RUNNING "$WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do healthy "$L" && break; sleep 0.1; done

echo "leader is master $L (port ${MPORTS[$L]}); kill -9"
T0=$(now)
kill -9 "${MPIDS[$L]}"
NEW=""
for _ in $(seq 1200); do
    if NEW=$(leader) && [[ "$NEW" != "$L" ]]; then break; fi
    sleep 0.05
done
T1=$(now)
for _ in $(seq 1200); do healthy "$NEW" && break; sleep 0.05; done
T2=$(now)
printf 'leader failover: new leader elected after %.2fs; all %d agents and %d tasks back after %.2fs\n' \
    "$(echo "$T1 - $T0" | bc)" "$AGENTS" "$TASKS" "$(echo "$T2 - $T0" | bc)"

# Agent recovery on the new leader: the agent holding the most tasks.
A=1; per_agent=0
for a in $(seq 1 "$AGENTS"); do
    n=$(curl -s "localhost:$((26100 + a))/state" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(len(e["tasks"]) for f in s["frameworks"] for e in f["executors"]))')
    if (( n > per_agent )); then A=$a; per_agent=$n; fi
done
eval "AP=\$APID_$A"
T0=$(now)
kill -9 "$AP"
"$BIN" agent --master "$ZK" --port $((26100 + A)) --work_dir "$WORK/a$A" --resources "cpus:4;mem:8192;disk:1000;ports:[31000-32000]" 2>"$WORK/a$A-restart.log" &
pids+=($!)
for _ in $(seq 1200); do
    curl -s -m 1 localhost:$((26100 + A))/state 2>/dev/null | python3 -c "
import json,sys
s=json.load(sys.stdin)
ex=[e for f in s['frameworks'] for e in f['executors']]
sys.exit(0 if s.get('connected_to_master') and len(ex)==$per_agent and all(e['state']=='RUNNING' for e in ex) else 1)" 2>/dev/null && break
    sleep 0.05
done
T1=$(now)
for _ in $(seq 1200); do healthy "$NEW" && break; sleep 0.05; done
T2=$(now)
printf 'agent recovery: %d executors re-subscribed after %.2fs; master healthy after %.2fs (no task lost: %s)\n' \
    "$per_agent" "$(echo "$T1 - $T0" | bc)" "$(echo "$T2 - $T0" | bc)" \
    "$(curl -s localhost:${MPORTS[$NEW]}/metrics/snapshot | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["master/tasks_lost"])==0)')"
