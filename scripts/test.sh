#!/usr/bin/env bash
# The test command: builds what the end-to-end tests drive, then runs every test in the workspace.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -E 'package(strata-tests)'   # extra arguments go to cargo nextest run
#
# Steps: the pymesos venv (scripts/setup-python.sh), `cargo build -p strata` (the binary the
# e2e tests start), then `cargo nextest run --workspace --no-fail-fast` (or `cargo test
# --workspace --no-fail-fast` when nextest is missing). With CI=true, tiers whose prerequisites
# are missing (cgroups, the venv) fail instead of being skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$PWD"
started=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - started ))s"; }

step "Python venv with pymesos (scripts/setup-python.sh)"
scripts/setup-python.sh

step "ZooKeeper for the high-availability tests (scripts/setup-zookeeper.sh)"
scripts/setup-zookeeper.sh

step "Docker test images (scripts/build-test-images.sh), when a Docker engine answers"
if docker info >/dev/null 2>&1; then
    scripts/build-test-images.sh
else
    echo "no Docker engine answers: the Docker tests will say SKIPPED (and fail on CI)"
fi

step "Chromium for the web UI tests (scripts/setup-browser.sh)"
scripts/setup-browser.sh || echo "==> WARNING: scripts/setup-browser.sh failed: the web UI tests will skip (and fail with CI=true)"

step "cargo build -p strata (the binary the end-to-end tests start)"
cargo build -p strata
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$repo_root/$target_dir" ;; esac
export STRATA_BIN="${STRATA_BIN:-$target_dir/debug/strata}"
[[ -x "$STRATA_BIN" ]] || { echo "error: $STRATA_BIN was not built" >&2; exit 1; }

skipped_dir="$target_dir/strata-tests-skipped"
rm -rf "$skipped_dir"

run_log="$(mktemp)"
trap 'rm -f "$run_log"' EXIT
status=0
set +e
if cargo nextest --version >/dev/null 2>&1; then
    runner="cargo nextest"
    profile=()
    if [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; then profile=(--profile ci); fi
    step "cargo nextest run --workspace --no-fail-fast ${profile[*]} $*"
    cargo nextest run --workspace --no-fail-fast "${profile[@]}" "$@" 2>&1 | tee "$run_log"
    status=${PIPESTATUS[0]}
    # "Summary [ 9.5s] 140 tests run: 138 passed, 2 failed, 0 skipped"
    summary_line="$(grep -E 'Summary \[.*[0-9]+ tests? run:' "$run_log" | tail -n1)"
    count() { grep -oE "[0-9]+ $1" <<<"$summary_line" | head -n1 | cut -d' ' -f1; }
    passed="$(count passed)"; failed="$(count failed)"; skipped="$(count skipped)"
else
    runner="cargo test"
    step "cargo-nextest not found: cargo test --workspace --no-fail-fast $*"
    cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$run_log"
    status=${PIPESTATUS[0]}
    # Sum "test result: ok. 9 passed; 0 failed; 1 ignored; ..." over every test binary.
    sum() { grep -E '^test result:' "$run_log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
    if grep -qE '^test result:' "$run_log"; then
        passed="$(sum passed)"; failed="$(sum failed)"; skipped="$(sum ignored)"
    fi
fi
set -e

printf '\n==> summary (%s, %s)\n' "$runner" "$(elapsed)"
if compgen -G "$skipped_dir/*" >/dev/null; then
    echo "SKIPPED tiers (missing prerequisites; on CI these fail instead):"
    sed 's/^/  /' "$skipped_dir"/*
fi
if [[ $status -eq 0 ]]; then
    echo "result: OK"
else
    echo "result: FAILED (exit $status); failing tests print their cluster logs above"
fi
# Last, the plain count line (empty counts mean the runner never got to run tests).
if [[ -n "${passed:-}" ]]; then
    echo "tests: ${passed} passed, ${failed:-0} failed, ${skipped:-0} skipped"
fi
exit "$status"
