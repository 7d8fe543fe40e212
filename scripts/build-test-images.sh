#!/usr/bin/env bash
# Builds the container images that Strata's Docker tests use, locally: no
# registry is reachable on these machines, so nothing is ever pulled.
#
#   strata-test/busybox:latest   FROM scratch + Debian's static busybox at
#                                /bin/busybox with its applets linked (sh, httpd,
#                                head, dd, ...), and /www/index.html for
#                                `httpd -f -p 8080 -h /www`.
#
# Installs Debian's busybox-static first if /bin/busybox is missing. Idempotent:
# an image is rebuilt only when its inputs (Dockerfile, files, busybox binary)
# changed, which a label on the image records. Exits non-zero, saying why, when
# no Docker engine answers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "build-test-images: $*"; }
die() { echo "build-test-images: error: $*" >&2; exit 1; }

# Tests run this concurrently (nextest runs each test in its own process): one
# at a time, so that apt and the builds do not trip over each other.
exec 9>"${TMPDIR:-/tmp}/strata-build-test-images.lock"
flock 9

command -v docker >/dev/null || die "the docker command is not installed"
if ! err=$(docker version --format '{{.Server.Version}}' 2>&1); then
    die "no Docker engine answers (is dockerd running and is ${DOCKER_HOST:-/var/run/docker.sock} reachable?): $(echo "$err" | sed '/^[[:space:]]*$/d')"
fi
say "docker engine $err"

if [[ ! -x /bin/busybox ]]; then
    say "/bin/busybox is missing: installing Debian's busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q busybox-static; then
        say "install failed; updating the package lists and trying again"
        apt-get update -q
        apt-get install -y -q busybox-static
    fi
    [[ -x /bin/busybox ]] || die "busybox-static installed but /bin/busybox is still missing"
fi
file_type=$(head -c 4 /bin/busybox | od -An -c | tr -d ' ')
[[ "$file_type" == '177ELF' ]] || die "/bin/busybox is not an ELF binary"
if command -v ldd >/dev/null && ldd /bin/busybox >/dev/null 2>&1; then
    die "/bin/busybox is dynamically linked; a FROM scratch image needs the static one (apt-get install busybox-static)"
fi

# build_image TAG DIR EXTRA_FILE...: DIR holds the Dockerfile and the files it
# copies; each EXTRA_FILE is copied into the context beside them.
# Runs in a subshell so that its EXIT trap removes the build context.
build_image() (
    local tag=$1 dir=$2; shift 2
    local hash
    hash=$( { (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum); \
              for f in "$@"; do sha256sum "$f"; done; } | sha256sum | cut -c1-16)
    local have old_id
    have=$(docker image inspect --format '{{index .Config.Labels "strata.inputs"}}' "$tag" 2>/dev/null || true)
    old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
    if [[ "$have" == "$hash" ]]; then
        say "$tag is up to date (inputs $hash): skipping"
        return
    fi
    if [[ -n "$have" ]]; then
        say "$tag has inputs $have, now $hash: rebuilding"
    else
        say "building $tag (inputs $hash)"
    fi
    local ctx
    ctx=$(mktemp -d /tmp/strata-image.XXXXXX)
    trap 'rm -rf "$ctx"' EXIT
    cp -a "$dir"/. "$ctx"/
    for f in "$@"; do cp "$f" "$ctx"/; done
    # The engine here has no BuildKit; the classic builder needs no registry
    # for FROM scratch.
    DOCKER_BUILDKIT=0 docker build --quiet --label "strata.inputs=$hash" -t "$tag" "$ctx" \
        || die "docker build of $tag failed"
    say "built $tag"
    if [[ -n "$old_id" && "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]]; then
        # The previous build is now untagged; it stays only if a container uses it.
        docker image rm "$old_id" >/dev/null 2>&1 && say "removed the previous build ${old_id:7:12}" || true
    fi
)

build_image strata-test/busybox:latest tests/images/busybox /bin/busybox
