#!/usr/bin/env bash
# Creates <repo>/.venv with the real third-party clients the end-to-end tests drive:
# pymesos 0.3.15 (and kazoo). Idempotent: a venv that already imports them is left alone.
#
# pymesos depends on http-parser 0.9.0, whose Cython-generated C file does not build on
# Python >= 3.11 (it includes longintrepr.h). We build http-parser with its pure-Python
# parser instead: patch the last line of its setup.py from `run_setup(not IS_PYPY)` to
# `run_setup(False)`; http_parser/http.py then falls back to http_parser.pyparser.
#
# Environment:
#   STRATA_PYTHON   interpreter to build the venv from (default: python3.11, then python3)
#   STRATA_VENV     venv location (default: <repo>/.venv)
set -euo pipefail

PYMESOS_VERSION=0.3.15
HTTP_PARSER_VERSION=0.9.0
KAZOO_VERSION=2.11.0

say() { printf '[setup-python] %s\n' "$*" >&2; }
die() { printf '[setup-python] ERROR: %s\n' "$*" >&2; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STRATA_VENV:-$repo_root/.venv}"
vpy="$venv/bin/python"

check_imports() {
    "$vpy" - <<EOF >/dev/null 2>&1
import importlib.metadata as md
import pymesos, http_parser, kazoo, addict, six
from http_parser.http import HttpParser  # noqa: F401  (the pure-python fallback must load)
assert md.version("pymesos") == "$PYMESOS_VERSION", md.version("pymesos")
EOF
}

# The other real clients the tests drive: the official Kubernetes client and
# marathon-python. Pure Python wheels; installed only when missing.
CLIENTS=("kubernetes==37.0.2" "marathon==0.13.0")
install_clients() {
    local missing=()
    for req in "${CLIENTS[@]}"; do
        local name="${req%%==*}" version="${req##*==}"
        if ! "$vpy" -c "import importlib.metadata as md, sys; sys.exit(md.version('$name') != '$version')" >/dev/null 2>&1; then
            missing+=("$req")
        fi
    done
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        "$vpy" -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
            || die "pip install ${missing[*]} failed"
    fi
}

if [[ -x "$vpy" ]] && check_imports; then
    say "venv at $venv already has pymesos $PYMESOS_VERSION, http-parser and kazoo"
    install_clients
    exit 0
fi

# --- pick an interpreter -------------------------------------------------------------------
python="${STRATA_PYTHON:-}"
if [[ -z "$python" ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
[[ -n "$python" ]] || die "no python3 found (set STRATA_PYTHON to a Python 3 interpreter)"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    || die "$python does not run"
say "using $python (Python $pyver)"

# --- the venv ------------------------------------------------------------------------------
if "$vpy" -c 'import sys' >/dev/null 2>&1; then
    say "reusing venv at $venv"
else
    if [[ -e "$venv" ]]; then
        [[ -f "$venv/pyvenv.cfg" ]] || die "$venv exists but is not a venv: move it away or set STRATA_VENV"
        say "the venv at $venv is broken (its python does not run): recreating it"
        rm -rf "$venv"
    fi
    say "creating venv at $venv"
    "$python" -m venv "$venv" || die "could not create a venv at $venv (is the venv module installed?)"
fi
pip=("$vpy" -m pip --disable-pip-version-check)

# --- http-parser, pure Python --------------------------------------------------------------
if "$vpy" -c 'import http_parser' >/dev/null 2>&1; then
    say "http-parser already installed"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    say "downloading the http-parser $HTTP_PARSER_VERSION sdist"
    "${pip[@]}" download --quiet --no-deps --no-binary :all: \
        "http-parser==$HTTP_PARSER_VERSION" -d "$work" \
        || die "pip download http-parser==$HTTP_PARSER_VERSION failed (is PyPI reachable?)"
    sdist="$(find "$work" -maxdepth 1 -name 'http-parser-*.tar.gz' -o -maxdepth 1 -name 'http_parser-*.tar.gz' | head -n1)"
    [[ -n "$sdist" ]] || die "the http-parser sdist was not downloaded into $work"
    tar -xzf "$sdist" -C "$work"
    src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'http*parser-*' | head -n1)"
    [[ -f "$src/setup.py" ]] || die "unexpected sdist layout: no setup.py under $work"
    grep -q 'run_setup(not IS_PYPY)' "$src/setup.py" \
        || die "http-parser setup.py has no 'run_setup(not IS_PYPY)' line to patch"
    say "patching setup.py: run_setup(not IS_PYPY) -> run_setup(False) (pure-Python parser)"
    sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$src/setup.py"
    say "installing http-parser from the patched source"
    "${pip[@]}" install --quiet "$src" || die "pip install of the patched http-parser failed"
fi

# --- pymesos and kazoo ---------------------------------------------------------------------
say "installing pymesos==$PYMESOS_VERSION and kazoo==$KAZOO_VERSION"
"${pip[@]}" install --quiet "pymesos==$PYMESOS_VERSION" "kazoo==$KAZOO_VERSION" \
    || die "pip install pymesos==$PYMESOS_VERSION kazoo==$KAZOO_VERSION failed"

if ! check_imports; then
    "$vpy" -c 'import pymesos, http_parser, kazoo' || true
    die "the venv at $venv was built but pymesos/http_parser/kazoo do not import"
fi
say "ok: $("$vpy" -c 'import pymesos; print(pymesos.__file__)')"
install_clients
