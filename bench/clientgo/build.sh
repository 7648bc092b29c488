#!/usr/bin/env bash
# build.sh — builds the client-go baseline contender (main.go) once and caches the binary.
#
# Offline: Debian's golang-go compiles against the client-go vendored in the Debian `kubernetes`
# source tree that packages/testing/scripts/install-control-plane.sh unpacks into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/control-plane/<version>/src/kubernetes-*/
# in GOPATH mode (GO111MODULE=off, GOPROXY=off): our package lives in a private GOPATH next to a
# `vendor` symlink to the tree's vendor/ folder (where k8s.io/client-go links to staging/), so
# every import resolves inside the tree and nothing is downloaded.
#
# The binary is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/bench/, keyed by the
# Kubernetes version and a hash of main.go: a second run returns at once. Progress goes to stderr;
# the binary's path is the only line on stdout.
#
# Environment:
#   LEASEKIT_KUBERNETES_TREE   use this kubernetes source tree instead of the cached one
#   LEASEKIT_CLIENTGO_REBUILD=1  ignore the cached binary
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/leasekit"
START=$(date +%s)
log() { printf '[clientgo %4ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
  printf 'clientgo/build.sh: ERROR: %s\n' "$*" >&2
  exit 1
}

command -v go >/dev/null || die "go is not installed (Debian: apt-get install golang-go; packages/testing/scripts/install-control-plane.sh installs it)"

TREE=${LEASEKIT_KUBERNETES_TREE:-}
if [[ -z "$TREE" ]]; then
  for dir in $(ls -d "$CACHE"/control-plane/v*/src/kubernetes-* 2>/dev/null | sort -V -r); do
    if [[ -d "$dir/vendor/k8s.io/client-go/tools/leaderelection" ]]; then
      TREE=$dir
      break
    fi
  done
fi
[[ -n "$TREE" && -d "$TREE/vendor/k8s.io/client-go/tools/leaderelection" ]] ||
  die "no kubernetes source tree with a vendored client-go under $CACHE/control-plane/*/src.
Run the control-plane install first: bash packages/testing/scripts/install-control-plane.sh"
KUBE_VERSION=$(basename "$(dirname "$(dirname "$TREE")")")
HASH=$(cat "$HERE/main.go" "$HERE/build.sh" | sha256sum | cut -c1-12)
OUT_DIR="$CACHE/bench"
BIN="$OUT_DIR/clientgo-contender-$KUBE_VERSION-$HASH"

if [[ "${LEASEKIT_CLIENTGO_REBUILD:-0}" != 1 && -x "$BIN" ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

log "building against client-go from $TREE ($(go version | awk '{print $3}'))"
GOPATH_DIR="$OUT_DIR/gopath"
PKG_DIR="$GOPATH_DIR/src/leasekit.dev/clientgo-contender"
mkdir -p "$PKG_DIR" "$OUT_DIR/gocache"
cp "$HERE/main.go" "$PKG_DIR/main.go"
ln -sfn "$TREE/vendor" "$PKG_DIR/vendor"

PROGRESS="$OUT_DIR/build-$HASH.log"
: >"$PROGRESS"
(
  cd "$PKG_DIR"
  export GOPATH="$GOPATH_DIR" GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0 GOCACHE="$OUT_DIR/gocache"
  exec go build -v -trimpath -o "$BIN.tmp" .
) >"$PROGRESS" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
SHOWN=0
while kill -0 "$PID" 2>/dev/null; do
  sleep 2
  LINES=$(wc -l <"$PROGRESS")
  if ((LINES > SHOWN)); then
    log "compiled $LINES packages (latest: $(tail -n 1 "$PROGRESS"))"
    SHOWN=$LINES
  fi
done
STATUS=0
wait "$PID" || STATUS=$?
trap - EXIT
if ((STATUS != 0)); then
  tail -n 30 "$PROGRESS" >&2
  rm -f "$BIN.tmp"
  die "go build failed with status $STATUS (log: $PROGRESS)"
fi
mv -f "$BIN.tmp" "$BIN"
log "built $BIN ($(du -h "$BIN" | cut -f1))"
echo "$BIN"
