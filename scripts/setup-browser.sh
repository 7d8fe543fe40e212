#!/usr/bin/env bash
# Installs the browser the web UI tests drive (tests/tests/e2e/ui.rs): Debian's `chromium` and
# `chromium-driver` (chromedriver, the WebDriver server the tests talk to). Idempotent: when both
# are already installed it does nothing.
#
# Nothing is started here: each test runs its own chromedriver on a free loopback port, and
# chromedriver starts Chromium headless with a fresh --user-data-dir.
#
# Exits non-zero when the browser is missing and cannot be installed; the UI tests then skip
# loudly (or fail, with CI=true).
set -euo pipefail

say() { printf '[setup-browser] %s\n' "$*" >&2; }
die() { printf '[setup-browser] ERROR: %s\n' "$*" >&2; exit 1; }

find_browser() {
    local candidate
    for candidate in chromium chromium-browser; do
        if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; return 0; fi
    done
    return 1
}

find_driver() {
    if command -v chromedriver >/dev/null 2>&1; then command -v chromedriver; return 0; fi
    if [[ -x /usr/lib/chromium/chromedriver ]]; then echo /usr/lib/chromium/chromedriver; return 0; fi
    return 1
}

if browser="$(find_browser)" && driver="$(find_driver)"; then
    say "chromium ($browser) and chromedriver ($driver) are already installed: nothing to do"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available: install chromium and chromedriver by hand"
sudo=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "chromium is missing and installing it needs root (no sudo found)"
    sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
say "running apt-get update"
"${sudo[@]}" apt-get update -q
say "running apt-get install -y --no-install-recommends chromium chromium-driver"
"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver

browser="$(find_browser)" || die "apt-get installed chromium but no chromium binary is on PATH"
driver="$(find_driver)" || die "apt-get installed chromium-driver but no chromedriver was found"
say "installed $("$browser" --version 2>/dev/null || echo chromium) at $browser; chromedriver at $driver"
