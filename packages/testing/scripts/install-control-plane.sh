#!/usr/bin/env bash
# install-control-plane.sh — provide etcd, kube-apiserver and kubectl for @leasekit/testing.
#
# What it does (Debian 12 "bookworm" only):
#   1. installs etcd-server (etcd 3.4), golang-go, rsync, make and dpkg-dev from the Debian archive;
#   2. adds a deb-src entry for bookworm (same mirror as the system uses) and fetches Debian's
#      `kubernetes` source package (1.20.x, Go dependencies vendored);
#   3. builds cmd/kube-apiserver and cmd/kubectl with the tree's own `make` (CGO_ENABLED=0);
#   4. caches everything under ${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/control-plane/<version>/:
#        bin/kube-apiserver  bin/kubectl  bin/etcd (symlink to Debian's)  src/<unpacked tree>
#      The source tree is kept on purpose: benchmarks build client-go programs against it.
#
# It is idempotent: a second run finds the cache and returns at once. It does nothing when the
# binaries are given another way: KUBEBUILDER_ASSETS (envtest convention: a folder containing
# `kube-apiserver` and `etcd`) or both TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD.
#
# Environment:
#   LEASEKIT_KUBERNETES_SOURCE_VERSION  Debian source version to fetch (default: newest available)
#   LEASEKIT_CONTROL_PLANE_REBUILD=1    ignore the cache and rebuild
#   MIRROR                              the Debian mirror (URL) for the bookworm deb-src entry, when
#                                       the system has none (default: the one the system's apt
#                                       configuration uses for bookworm; no host is built in)
set -Eeuo pipefail

START_SECONDS=$(date +%s)
STEP=0
TOTAL_STEPS=6
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/control-plane"
APT_ETC=/etc/apt
SOURCES_FILE=$APT_ETC/sources.list.d/leasekit-bookworm-src.sources

elapsed() { echo $(($(date +%s) - START_SECONDS)); }
log() { printf '[%4ss] %s\n' "$(elapsed)" "$*"; }
step() {
  STEP=$((STEP + 1))
  printf '\n[%4ss] == step %d/%d: %s\n' "$(elapsed)" "$STEP" "$TOTAL_STEPS" "$*"
}
die() {
  printf '\ninstall-control-plane: ERROR: %s\n' "$*" >&2
  exit 1
}
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

alternatives_hint() {
  cat <<'EOF'
Alternatives that need no build:
  * KUBEBUILDER_ASSETS=/path/to/dir   a folder containing `kube-apiserver` and `etcd` (envtest
                                      convention; e.g. `setup-envtest use -p path`), optionally `kubectl`
  * TEST_ASSET_KUBE_APISERVER=/path/to/kube-apiserver TEST_ASSET_ETCD=/path/to/etcd
                                      (optionally TEST_ASSET_KUBECTL=/path/to/kubectl)
  * KUBECONFIG=/path/to/kubeconfig    run the integration suites against an existing cluster
                                      (kind, k3d, minikube, a real one) instead of a local control plane
EOF
}

# --- 0. binaries given another way ------------------------------------------------------------
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  log "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS} is set: using those binaries, nothing to install."
  exit 0
fi
if [[ -n "${TEST_ASSET_KUBE_APISERVER:-}" && -n "${TEST_ASSET_ETCD:-}" ]]; then
  log "TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD are set: using those binaries, nothing to install."
  exit 0
fi

# A complete cache entry has bin/{kube-apiserver,kubectl,etcd} and the .complete marker.
cached_bin_dir() {
  local dir dirs=()
  for dir in "$CACHE_ROOT"/v*; do [[ -d "$dir" ]] && dirs+=("$dir"); done
  ((${#dirs[@]} > 0)) || return 1
  for dir in $(printf '%s\n' "${dirs[@]}" | sort -V -r); do
    if [[ -f "$dir/.complete" && -x "$dir/bin/kube-apiserver" && -x "$dir/bin/kubectl" && -x "$dir/bin/etcd" ]]; then
      echo "$dir/bin"
      return 0
    fi
  done
  return 1
}

if [[ "${LEASEKIT_CONTROL_PLANE_REBUILD:-0}" != 1 && -z "${LEASEKIT_KUBERNETES_SOURCE_VERSION:-}" ]]; then
  if BIN_DIR=$(cached_bin_dir); then
    log "control plane already installed (cached): $BIN_DIR"
    "$BIN_DIR/kube-apiserver" --version 2>/dev/null | sed 's/^/         /' || true
    echo "$BIN_DIR"
    exit 0
  fi
fi

# --- 1. the system ----------------------------------------------------------------------------
step "checking the system"
OS_RELEASE=${LEASEKIT_OS_RELEASE:-/etc/os-release} # overridable to test the refusal below
if [[ ! -r "$OS_RELEASE" ]] || ! grep -qE '^(ID|ID_LIKE)=.*debian' "$OS_RELEASE"; then
  die "this script builds the control plane from Debian packages and only runs on Debian 12 (bookworm).
$(alternatives_hint)"
fi
# shellcheck disable=SC1090
. "$OS_RELEASE"
if [[ "${VERSION_CODENAME:-}" != bookworm ]]; then
  log "warning: this recipe is verified on Debian 12 (bookworm); this is '${PRETTY_NAME:-unknown}'. Trying anyway."
fi
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "installing Debian packages needs root (or password-less sudo).
$(alternatives_hint)"
  fi
fi
log "ok: ${PRETTY_NAME:-Debian}, $(nproc) cores, cache at $CACHE_ROOT"

# --- 2. Debian packages -----------------------------------------------------------------------
# python3: the CLI's process tests start a worker whose main thread exits while its threads work on
# (pthread_exit through ctypes), which only a real program can do. time: GNU time, with which the
# bench's figure 7 reads a short-lived process's peak RSS (`pnpm bench` runs this script first).
step "installing Debian packages (etcd-server, golang-go, rsync, make, dpkg-dev, openssl, python3, time)"
PACKAGES=(etcd-server golang-go rsync make dpkg-dev openssl python3 time)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
APT_UPDATED=0
apt_update() {
  log "apt-get update ..."
  "${SUDO[@]}" apt-get update -qq
  APT_UPDATED=1
}
if ((${#missing[@]} > 0)); then
  for pkg in "${missing[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1 || [[ -z "$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]]; then
      apt_update
      break
    fi
  done
  log "apt-get install ${missing[*]} ..."
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "already installed: ${PACKAGES[*]}"
fi
ETCD_BIN=$(command -v etcd || true)
[[ -n "$ETCD_BIN" ]] || ETCD_BIN=/usr/bin/etcd
[[ -x "$ETCD_BIN" ]] || die "etcd not found after installing etcd-server"
log "etcd: $("$ETCD_BIN" --version 2>/dev/null | head -1)"
log "go:   $(go version)"

# --- 3. kubernetes source package -------------------------------------------------------------
step "fetching Debian's kubernetes source package"
has_bookworm_deb_src() {
  grep -rhsE '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm[[:space:]]' "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list && return 0
  # deb822: a stanza whose Types include deb-src and whose Suites include bookworm
  awk 'BEGIN{RS=""; found=0} /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm([ \t\n]|$)/ && !/Enabled:[ \t]*no/ {found=1} END{exit !found}' \
    "$APT_ETC"/sources.list.d/*.sources 2>/dev/null
}
# The mirror the system's apt configuration uses for bookworm: the first URI of an enabled deb822
# stanza (*.sources) whose Types include deb (or deb-src) and whose Suites include bookworm, else
# the URI of the first one-line `deb … bookworm …` entry. Prints nothing when there is none.
derive_mirror() {
  local mirror
  mirror=$(awk '
    function flush(   n, u, j) {
      if (enabled !~ /^[ \t]*[Nn]o/ && (" " types " ") ~ /[ \t]deb(-src)?[ \t]/ && (" " suites " ") ~ /[ \t]bookworm[ \t]/) {
        n = split(uris, u, /[ \t]+/)
        for (j = 1; j <= n; j++) if (u[j] != "") { print u[j]; found = 1; exit }
      }
      types = ""; suites = ""; uris = ""; enabled = ""; last = ""
    }
    FNR == 1 { flush() }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (last == "types") types = types " " $0; else if (last == "suites") suites = suites " " $0; else if (last == "uris") uris = uris " " $0; next }
    {
      colon = index($0, ":"); if (colon == 0) next
      last = tolower(substr($0, 1, colon - 1)); value = substr($0, colon + 1)
      if (last == "types") types = value; else if (last == "suites") suites = value
      else if (last == "uris") uris = value; else if (last == "enabled") enabled = value
    }
    END { if (!found) flush() }
  ' "$APT_ETC"/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z "$mirror" ]]; then
    mirror=$(grep -hsE '^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm[[:space:]]' \
      "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list | head -1 |
      sed -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/' || true)
  fi
  printf '%s' "$mirror"
}
if ! has_bookworm_deb_src >/dev/null; then
  MIRROR=${MIRROR:-$(derive_mirror)}
  if [[ -z "$MIRROR" ]]; then
    die "cannot tell which Debian mirror this system uses for bookworm: no enabled 'deb ... bookworm' entry in
$APT_ETC/sources.list.d/*.sources, $APT_ETC/sources.list or $APT_ETC/sources.list.d/*.list.
Set MIRROR to the URL of a Debian mirror that serves bookworm (MIRROR=<url> pnpm control-plane:install),
or add a 'deb-src' entry for bookworm (component main) to the apt configuration yourself.
$(alternatives_hint)"
  fi
  log "adding deb-src for bookworm ($MIRROR) in $SOURCES_FILE"
  "${SUDO[@]}" tee "$SOURCES_FILE" >/dev/null <<EOF
# Added by leasekit's install-control-plane.sh: Debian's kubernetes source package.
Types: deb-src
URIs: $MIRROR
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_update
elif [[ -z "$(apt-cache showsrc kubernetes 2>/dev/null)" && $APT_UPDATED -eq 0 ]]; then
  apt_update
fi
DEB_VERSION=${LEASEKIT_KUBERNETES_SOURCE_VERSION:-$(apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2}' | sort -V -r | head -1)}
[[ -n "$DEB_VERSION" ]] || die "apt-cache showsrc kubernetes found nothing even with a bookworm deb-src entry."
# Upstream version: drop epoch and Debian revision; "1.20.5+really1.20.2" means 1.20.2; drop +ds etc.
UPSTREAM=${DEB_VERSION#*:}
UPSTREAM=${UPSTREAM%-*}
[[ "$UPSTREAM" == *really* ]] && UPSTREAM=${UPSTREAM##*really}
UPSTREAM=${UPSTREAM%%+*}
UPSTREAM=${UPSTREAM%%~*}
KUBE_VERSION="v${UPSTREAM}"
DEST="$CACHE_ROOT/$KUBE_VERSION"
BIN_DIR="$DEST/bin"
log "kubernetes source $DEB_VERSION -> $KUBE_VERSION; cache $DEST"

if [[ "${LEASEKIT_CONTROL_PLANE_REBUILD:-0}" != 1 && -f "$DEST/.complete" && -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kubectl" ]]; then
  ln -sfn "$ETCD_BIN" "$BIN_DIR/etcd"
  log "control plane already installed (cached): $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$DEST/src"
TREE=$(find "$DEST/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
if [[ -n "$TREE" && -f "$TREE/.leasekit-unpacked" ]]; then
  log "source tree already unpacked: $TREE"
else
  rm -rf "${DEST:?}/src"
  mkdir -p "$DEST/src"
  log "apt-get source kubernetes=$DEB_VERSION (about 30 MB download, then unpacking) ..."
  (cd "$DEST/src" && apt-get source -qq "kubernetes=$DEB_VERSION" 2>&1 | grep -v -e 'sandbox' -e '^W: Download is performed unsandboxed' || true)
  TREE=$(find "$DEST/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -1)
  [[ -n "$TREE" && -f "$TREE/Makefile" ]] || die "apt-get source did not produce a kubernetes tree in $DEST/src"
  touch "$TREE/.leasekit-unpacked"
  log "unpacked: $TREE"
fi

# --- 4. build ---------------------------------------------------------------------------------
step "building kube-apiserver and kubectl (about 5 minutes on 2 cores)"
cd "$TREE"
if [[ -d _output && ! -f _output/.leasekit-build-ok ]]; then
  # A failed build leaves e.g. an empty _output/bin/prerelease-lifecycle-gen; later builds then
  # fail with "Permission denied". Start from a clean output folder.
  log "removing _output/ left by an earlier, unfinished build"
  rm -rf _output
fi
mkdir -p .go/src/k8s.io
ln -sfn "$TREE" .go/src/k8s.io/kubernetes
rm -f _output/.leasekit-build-ok
BUILD_LOG="$DEST/build.log"
# `make` runs in its own process group (job control on), so that an interrupted script stops the
# whole build (go, compile, link) and not just make.
set -m
(
  cd .go/src/k8s.io/kubernetes
  export GOPATH="$TREE/.go" CGO_ENABLED=0 GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on
  export KUBE_GIT_VERSION="$KUBE_VERSION" KUBE_GIT_TREE_STATE=clean
  exec make WHAT="cmd/kube-apiserver cmd/kubectl"
) >"$BUILD_LOG" 2>&1 &
MAKE_PID=$!
set +m
stop_build() { kill -TERM -- "-$MAKE_PID" 2>/dev/null || true; }
trap 'stop_build' EXIT
trap 'stop_build; trap - EXIT; die "interrupted; the unfinished build is removed on the next run"' INT TERM
log "make WHAT=\"cmd/kube-apiserver cmd/kubectl\" (pid $MAKE_PID, log: $BUILD_LOG)"
LAST_BEAT=$(date +%s)
SHOWN=0
while kill -0 "$MAKE_PID" 2>/dev/null; do
  sleep 1
  # Echo the build's own progress lines as they appear ("+++ [...] Building go targets ...").
  LINES=$(wc -l <"$BUILD_LOG")
  if ((LINES > SHOWN)); then
    sed -n "$((SHOWN + 1)),${LINES}p" "$BUILD_LOG" | grep -E '^\+\+\+|rror' | sed 's/^/         | /' || true
    SHOWN=$LINES
  fi
  if (($(date +%s) - LAST_BEAT >= 15)); then
    LAST_BEAT=$(date +%s)
    log "... still building ($(elapsed)s elapsed; compiler processes running: $(pgrep -c -x compile 2>/dev/null || true))"
  fi
done
MAKE_STATUS=0
wait "$MAKE_PID" || MAKE_STATUS=$?
trap - EXIT INT TERM
if ((MAKE_STATUS != 0)); then
  tail -n 30 "$BUILD_LOG" >&2
  die "make failed with status $MAKE_STATUS (full log: $BUILD_LOG). Re-running this script removes _output/ and retries."
fi
touch _output/.leasekit-build-ok
log "build finished"

# --- 5. install into the cache ----------------------------------------------------------------
step "installing binaries into $BIN_DIR"
mkdir -p "$BIN_DIR"
for name in kube-apiserver kubectl; do
  built=$(find _output -type f -name "$name" -perm -u+x | head -1)
  [[ -n "$built" ]] || die "make succeeded but _output has no $name"
  install -m 0755 "$built" "$BIN_DIR/$name.tmp"
  mv -f "$BIN_DIR/$name.tmp" "$BIN_DIR/$name"
done
ln -sfn "$ETCD_BIN" "$BIN_DIR/etcd"
printf '%s\n' "$KUBE_VERSION" >"$DEST/VERSION"
printf 'debian-source=%s\ntree=%s\n' "$DEB_VERSION" "$TREE" >"$DEST/SOURCE"
touch "$DEST/.complete"

# --- 6. check ---------------------------------------------------------------------------------
step "checking the binaries"
log "kube-apiserver: $("$BIN_DIR/kube-apiserver" --version)"
log "kubectl:        $("$BIN_DIR/kubectl" version --client --short 2>/dev/null || "$BIN_DIR/kubectl" version --client | head -1)"
log "etcd:           $("$BIN_DIR/etcd" --version | head -1)"
log "done in $(elapsed)s. Binaries (usable as KUBEBUILDER_ASSETS):"
echo "$BIN_DIR"
