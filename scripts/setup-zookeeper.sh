#!/usr/bin/env bash
# Installs Apache ZooKeeper (Debian's `zookeeper` package, 3.8) for the tests that need a real
# ZooKeeper (strata-store's conformance suite, the end-to-end high-availability tests).
# Idempotent: when the ZooKeeper jar is already there it does nothing.
#
# Nothing is started here: the tests run their own server on a loopback port with a throw-away
# data dir (strata_store::testing::TestZk), as
#   java -cp '/usr/share/java/*:/usr/share/zookeeper/*' \
#       org.apache.zookeeper.server.quorum.QuorumPeerMain <cfg>
# Java 17 must be on the machine (it is on ours); apt pulls in a JRE if it is not.
set -euo pipefail

say() { printf '[setup-zookeeper] %s\n' "$*" >&2; }
die() { printf '[setup-zookeeper] ERROR: %s\n' "$*" >&2; exit 1; }

find_jar() {
    local candidate
    for candidate in /usr/share/java/zookeeper.jar /usr/share/zookeeper/zookeeper.jar; do
        if [[ -f "$candidate" ]]; then echo "$candidate"; return 0; fi
    done
    return 1
}

if jar="$(find_jar)"; then
    say "zookeeper is already installed ($jar): nothing to do"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "zookeeper is missing and apt-get is not available: install Apache ZooKeeper 3.8 by hand"
sudo=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "zookeeper is missing and installing it needs root (no sudo found)"
    sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
say "running apt-get update"
"${sudo[@]}" apt-get update -q
say "running apt-get install -y --no-install-recommends zookeeper"
"${sudo[@]}" apt-get install -y -q --no-install-recommends zookeeper

jar="$(find_jar)" || die "apt-get installed zookeeper but no zookeeper.jar was found in /usr/share/java or /usr/share/zookeeper"
command -v java >/dev/null 2>&1 || die "zookeeper is installed ($jar) but no java is on PATH"
say "installed zookeeper ($jar); java: $(java -version 2>&1 | head -n 1)"
