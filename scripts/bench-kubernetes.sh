#!/usr/bin/env bash
# The Kubernetes API server figures behind BENCHMARKS.md (issue 7). Builds a
# release binary, starts `strata kubernetes` alone on a free loopback port with
# its own embedded store (pods are API objects; nothing is scheduled yet, so no
# master is needed: the framework keeps retrying the master in the background),
# and runs scripts/bench_kubernetes.py against it:
#   1. PODS pods created by CONC client threads: mutating latency p50/p99, creates/s;
#   2. a full LIST of them;
#   3. watch fan-out: WATCHERS watches while WATCH_PODS more pods are created;
#   4. the server's resident memory (VmRSS) idle, holding the pods, with watches.
# Usage: scripts/bench-kubernetes.sh [PODS=10000] [CONC=32] [WATCHERS=100] [WATCH_PODS=1000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PODS=${1:-10000}
CONC=${2:-32}
WATCHERS=${3:-100}
WATCH_PODS=${4:-1000}
TIMEOUT=${BENCH_TIMEOUT:-900}

if [[ -z "${BENCH_NO_BUILD:-}" ]]; then cargo build --release -p strata >&2; fi
WORK=$(mktemp -d /tmp/strata-bench-k8s.XXXXXX)
# A private copy, so that a concurrent rebuild cannot change the binary under the run.
cp target/release/strata "$WORK/strata"
BIN=$WORK/strata
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    if (( rc != 0 )) && [[ -f "$WORK/k8s.log" ]]; then
        echo "== last lines of the server's log" >&2; tail -20 "$WORK/k8s.log" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
NO_MASTER=$(free_port)   # nothing listens there

RUST_LOG=${RUST_LOG:-warn} "$BIN" kubernetes --listen "127.0.0.1:$PORT" --master "127.0.0.1:$NO_MASTER" \
    --work_dir "$WORK/k8s" 2>"$WORK/k8s.log" & pids+=($!); K8S_PID=$!; disown $K8S_PID
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/version" >/dev/null && break; sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/version" >/dev/null || { echo "strata kubernetes did not start" >&2; exit 1; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== store: $(df -T "$WORK" | awk 'NR==2 {print $2}') at $WORK (embedded redb, fsync per commit)"
echo "== strata kubernetes pid $K8S_PID on 127.0.0.1:$PORT: $PODS pods, $CONC client threads, $WATCHERS watchers x $WATCH_PODS pods"
rc=0
timeout "$TIMEOUT" python3 scripts/bench_kubernetes.py --server "127.0.0.1:$PORT" --pid "$K8S_PID" \
    --pods "$PODS" --concurrency "$CONC" --watchers "$WATCHERS" --watch-pods "$WATCH_PODS" \
    --timeout "$((TIMEOUT - 60))" || rc=$?
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg); store file $(du -sh "$WORK/k8s" | cut -f1)"
other=$(grep -E "WARN|ERROR" "$WORK/k8s.log" | grep -v -i "master\|subscri\|connect" || true)
echo "== server log: $(grep -c . <<<"$other" || true) WARN/ERROR lines other than the unreachable master"
head -5 <<<"$other"
exit $rc
