#!/usr/bin/env bash
# Make the Pulumi CLI and the Python plugins available side by side, offline.
#
# Prints the directory holding the four files on stdout (progress goes to stderr):
#   pulumi, pulumi-language-python, pulumi-language-python-exec, pulumi-resource-pulumi-python
#
# 1. A compatible `pulumi` already on PATH (same major, >= the minimum) is used as it is.
# 2. Otherwise the pinned version is built once from the Go module registry into a cache
#    outside the repository and reused:
#      - the CLI from the `pkg/v3` and `sdk/v3` modules laid out like the monorepo, so that
#        pkg's relative `replace ../sdk` resolves and upstream's go.sum is used as is;
#      - the Python language host from this repository's toolchain/langhost (the upstream
#        one is in an untagged module that the registry does not serve);
#      - `pulumi-language-python-exec` copied from the `sdk/v3` module with exec bits;
#      - our own `pulumi-resource-pulumi-python` launcher (below): upstream's starts the
#        SDK's dynamic-provider server, which serves 4 calls at a time; ours starts
#        `felhom_provider.provider_main` when the project's virtualenv has it (same server,
#        a thread pool sized from felhom:limits.restoresPerNode; docs/fleet.md).
#    Builds are serialised with flock, staged in a temporary directory and renamed into
#    place, so an interrupted or concurrent run never leaves a half-installed cache.
#
# Environment: FELHOM_PULUMI_VERSION (default below), FELHOM_TOOLCHAIN_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/felhom), FELHOM_FORCE_BUILD=1 to ignore a pulumi on PATH.
set -euo pipefail

VERSION="${FELHOM_PULUMI_VERSION:-3.274.1}"
MIN_VERSION="3.272.0"
CACHE="${FELHOM_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/felhom}"
PREFIX="$CACHE/pulumi-v$VERSION"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)
# The language host is built from this repository, so a cached build is only valid for the
# sources it was built from: their hash is stamped next to the binaries.
LANGHOST_SOURCES="$(cd "$REPO/toolchain/langhost" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"

# write_launcher FILE: the dynamic-provider launcher. Like upstream's
# python/dist/pulumi-resource-pulumi-python it finds the interpreter from the project's
# `virtualenv` option (PULUMI_RUNTIME_VIRTUALENV, relative to the project directory), the uv or
# poetry toolchain, or PULUMI_PYTHON_CMD; then it runs our provider entry point when that
# interpreter can import it, and the SDK's `pulumi.dynamic` otherwise (other projects).
write_launcher() {
  cat > "$1" <<'LAUNCHER'
#!/bin/sh
# Dynamic-provider plugin launcher installed by felhom's scripts/install-toolchain.sh.
if [ -z "${PULUMI_RUNTIME_VIRTUALENV:-}" ]; then
    case "${PULUMI_RUNTIME_TOOLCHAIN:-}" in
        uv) PULUMI_RUNTIME_VIRTUALENV=".venv" ;;
        poetry) PULUMI_RUNTIME_VIRTUALENV=$(poetry env info --path) ;;
    esac
fi
if [ -n "${PULUMI_RUNTIME_VIRTUALENV:-}" ]; then
    venv=${PULUMI_RUNTIME_VIRTUALENV%/}
    case $venv in /*) : ;; *) venv=$PWD/$venv ;; esac
    if [ ! -f "$venv/bin/python" ]; then
        echo "The 'virtualenv' option in Pulumi.yaml names \"$venv\", which is not a virtual environment; create it with: python3 -m venv $venv" >&2
        exit 1
    fi
    PATH="$venv/bin:$PATH"
    export PATH
    unset PYTHONHOME
    python="$venv/bin/python"
else
    python="${PULUMI_PYTHON_CMD:-python3}"
fi
module=pulumi.dynamic
if "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("felhom_provider.provider_main") is None)' 2>/dev/null; then
    module=felhom_provider.provider_main
fi
exec "$python" -u -m "$module" "$@"
LAUNCHER
  chmod 0755 "$1"
}

# ensure_launcher DIR: install our launcher when DIR holds another one (an older cache).
# Renamed into place, so a plugin starting meanwhile runs either the old or the new file.
ensure_launcher() {
  local want
  want="$(mktemp "$1/.launcher.XXXXXX")"
  write_launcher "$want"
  if cmp -s "$want" "$1/pulumi-resource-pulumi-python"; then
    rm -f "$want"
  else
    mv "$want" "$1/pulumi-resource-pulumi-python"
    log "installed the dynamic-provider launcher in $1"
  fi
}

log() { printf '[toolchain %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'install-toolchain: error: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true when dotted version A >= B.
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

# cli_version DIR: the version `DIR/pulumi version` prints, without the leading v.
cli_version() {
  PULUMI_SKIP_UPDATE_CHECK=true "$1/pulumi" version 2>/dev/null | head -n1 | sed 's/^v//'
}

# complete DIR: the four files exist, are executable and both binaries report VERSION.
complete() {
  local dir=$1 f
  for f in "${FILES[@]}"; do [ -x "$dir/$f" ] || return 1; done
  [ "$(cli_version "$dir")" = "$VERSION" ] || return 1
  [ "$("$dir/pulumi-language-python" -version 2>/dev/null)" = "v$VERSION" ] || return 1
  [ "$(cat "$dir/.langhost-sources" 2>/dev/null)" = "$LANGHOST_SOURCES" ] || return 1
}

# An operator's own installation wins when it is compatible and has the Python plugins.
if [ "${FELHOM_FORCE_BUILD:-0}" != 1 ] && command -v pulumi >/dev/null 2>&1; then
  ambient="$(dirname "$(readlink -f "$(command -v pulumi)")")"
  have="$(cli_version "$ambient" || true)"
  if [ -n "$have" ] && version_ge "$have" "$MIN_VERSION" && [ "${have%%.*}" = 3 ] \
     && [ -x "$ambient/pulumi-language-python" ] && [ -x "$ambient/pulumi-resource-pulumi-python" ]; then
    log "using the Pulumi CLI on PATH: $ambient (v$have)"
    echo "$ambient"
    exit 0
  fi
  [ -n "$have" ] && log "ignoring pulumi v$have on PATH (need >= $MIN_VERSION, < 4, with the Python plugins)"
fi

if complete "$PREFIX/bin"; then
  ensure_launcher "$PREFIX/bin"
  echo "$PREFIX/bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed and no compatible Pulumi CLI is on PATH.
Install Go >= 1.26 (https://go.dev/dl/) or a Pulumi CLI >= $MIN_VERSION, then run this again."
go_have="$(go env GOVERSION | sed 's/^go//')"
version_ge "$go_have" "1.26" || die "Go $go_have is too old to build Pulumi v$VERSION; Go >= 1.26 is needed."

mkdir -p "$CACHE"
exec 9>"$CACHE/pulumi-v$VERSION.lock"
if ! flock -n 9; then
  log "another build of Pulumi v$VERSION is running; waiting for it"
  flock 9
fi
# The other run may have finished the job while we waited.
if complete "$PREFIX/bin"; then
  ensure_launcher "$PREFIX/bin"
  echo "$PREFIX/bin"
  exit 0
fi

stage="$(mktemp -d "$CACHE/.stage-v$VERSION.XXXXXX")"
trap 'chmod -R u+w "$stage" 2>/dev/null; rm -rf "$stage"' EXIT
export CGO_ENABLED=0 GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION"
started=$SECONDS

log "downloading github.com/pulumi/pulumi/{pkg,sdk}/v3@v$VERSION from the Go module registry"
pkg_dir="$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
sdk_dir="$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[ -d "$pkg_dir" ] && [ -d "$sdk_dir" ] || die "the Go module registry did not provide pkg/v3 or sdk/v3 at v$VERSION"

# The monorepo layout: <src>/pkg and <src>/sdk, writable (the module cache is read-only).
mkdir -p "$stage/src" "$stage/bin"
cp -r "$pkg_dir" "$stage/src/pkg"
cp -r "$sdk_dir" "$stage/src/sdk"
chmod -R u+w "$stage/src"

log "building pulumi v$VERSION (with empty Go caches this takes about 5-8 minutes on 2 cores)"
(cd "$stage/src/pkg" && go mod download && go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "$ldflags" -o "$stage/bin/pulumi" ./cmd/pulumi) >&2
log "built pulumi after $((SECONDS - started)) s"

log "building pulumi-language-python v$VERSION (toolchain/langhost)"
cp -r "$REPO/toolchain/langhost" "$stage/src/langhost"
(cd "$stage/src/langhost" && go mod edit -require "github.com/pulumi/pulumi/sdk/v3@v$VERSION" \
  && go mod edit -replace "github.com/pulumi/pulumi/sdk/v3=../sdk" \
  && go mod tidy && go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "$ldflags" -o "$stage/bin/pulumi-language-python" .) >&2

echo "$LANGHOST_SOURCES" > "$stage/bin/.langhost-sources"
install -m 0755 "$stage/src/sdk/python/cmd/pulumi-language-python-exec" "$stage/bin/"
write_launcher "$stage/bin/pulumi-resource-pulumi-python"
complete "$stage/bin" || die "the staged build does not report v$VERSION; see the output above"

# Swap in atomically: only the finished bin/ moves into the cache.
mkdir -p "$PREFIX"
rm -rf "$PREFIX/bin.old"
[ -d "$PREFIX/bin" ] && mv "$PREFIX/bin" "$PREFIX/bin.old"
mv "$stage/bin" "$PREFIX/bin"
rm -rf "$PREFIX/bin.old"
log "installed Pulumi v$VERSION in $PREFIX/bin after $((SECONDS - started)) s"
echo "$PREFIX/bin"
