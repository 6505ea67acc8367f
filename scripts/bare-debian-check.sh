#!/usr/bin/env bash
# What CI meets on a new machine: a fresh clone's `.ci/run` (= make test) on a
# bare Debian (debootstrap --variant=minbase) with Go, as root.
#
#   sudo scripts/bare-debian-check.sh [REPO [REF]]   # default: this repository, HEAD
#
# Takes 8-18 minutes on a shared 2-core machine (measured: debootstrap
# 0.5-2 min, test-deps' apt/npm installs ~3 min, Go module downloads and the
# tests the rest). Only committed files are tested.
#
# Assumed of the CI image (CI_BASE): Go (this machine's GOROOT, bind-mounted
# read-only), make and git (apt-get --no-install-recommends, then the apt
# lists are deleted as image builds do); everything else must come from
# `make test`. The chroot shares this machine's network namespace (the tests
# use loopback only); it gets this machine's resolv.conf, and this machine's
# CA bundle as SSL_CERT_FILE / NODE_EXTRA_CA_CERTS / npm cafile (at
# /etc/ssl/host-ca.crt, so the chroot's own /etc/ssl/certs stays bare) for
# networks whose egress proxy re-signs TLS.
#
# Everything lives in one temp directory; on any exit (failure, timeout,
# Ctrl-C) the processes left in the chroot are killed by pid, every mount is
# unmounted, and the directory is removed (never while something is still
# mounted under it). Each step is bounded by timeout.
#
# CHECK_CMD (default ./.ci/run) is what runs in the clone; e.g.
# CHECK_CMD='make -i test' runs every test command even after a failure
# (then read the FAIL lines: the exit status is 0).
#
# Environment: MIRROR (default: the configured Debian mirror), SUITE
# (bookworm), CI_BASE ("make git"), TEST_TIMEOUT (90m), HOST_GOROOT
# (/usr/local/go), HOST_CA (/etc/ssl/certs/ca-certificates.crt), TMPBASE
# (/var/tmp).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "bare-debian-check: run as root (debootstrap, mount, chroot)" >&2
  exit 1
fi

SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
REF=${2:-HEAD}
SUITE=${SUITE:-bookworm}
CI_BASE=${CI_BASE:-make git}
TEST_TIMEOUT=${TEST_TIMEOUT:-90m}
CHECK_CMD=${CHECK_CMD:-./.ci/run}
HOST_GOROOT=${HOST_GOROOT:-/usr/local/go}
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}

# The configured Debian mirror: the first deb822 stanza or sources.list line
# carrying SUITE.
configured_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$SUITE" 'BEGIN { RS = "" } {
      u = ""; ok = 0; n = split($0, L, "\n")
      for (i = 1; i <= n; i++) {
        if (L[i] ~ /^URIs:/) { split(L[i], a, " "); u = a[2] }
        if (L[i] ~ /^Suites:/) { m = split(L[i], b, " "); for (j = 2; j <= m; j++) if (b[j] == s) ok = 1 }
      }
      if (ok && u != "") { print u; exit }
    }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -E 's/\[[^]]*\]//' "$f" | awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }'
  done
}
MIRROR=${MIRROR:-$(configured_mirror | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

COMMIT=$(git -C "$SRC" rev-parse --verify "$REF^{commit}")
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
  echo "bare-debian-check: note: $SRC has uncommitted changes; testing commit $COMMIT only"
fi
for tool in debootstrap timeout chroot git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$tool" = debootstrap ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    else
      echo "bare-debian-check: needs $tool" >&2
      exit 1
    fi
  fi
done

WORK=$(mktemp -d "${TMPBASE:-/var/tmp}/wsd-bare.XXXXXX")
ROOT=$WORK/root
MOUNTS=()
CHILD=

cleanup() {
  local rc=$? pid i m sig
  set +e
  trap - EXIT INT TERM
  # A step still running (we were signalled): timeout passes TERM to its
  # whole process group.
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
  fi
  # Processes still running inside the chroot (a timed-out browser, tshark).
  for sig in TERM KILL; do
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
      [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -s "$sig" "$pid" 2>/dev/null || true
    done
    [ "$sig" = TERM ] && sleep 2
  done
  # Mounts the tests made in the chroot (ip netns add mounts /run/netns),
  # deepest first, then ours.
  awk -v r="$ROOT" 'index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    case " ${MOUNTS[*]} " in *" $m "*) continue ;; esac
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "bare-debian-check: could not unmount $m" >&2
  done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "bare-debian-check: could not unmount $m" >&2
  done
  if awk -v r="$ROOT" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    echo "bare-debian-check: mounts remain under $ROOT; NOT removing $WORK" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bounded() { # bounded DURATION COMMAND...: under timeout, in the background so
  # that a signal to this script is handled at once (bash runs traps only
  # between commands, or during wait)
  local rc=0
  timeout --kill-after=30s "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}

mnt() { # mnt TARGET MOUNT-ARGS...: mount, private, remembered for cleanup
  local target=$1
  shift
  mkdir -p "$target"
  mount "$@" "$target" || return 1
  MOUNTS+=("$target")
  mount --make-private "$target" 2>/dev/null || true
}

start=$SECONDS
step() { printf '== [%4ds] %s\n' $((SECONDS - start)) "$*"; }

step "debootstrap --variant=minbase $SUITE from $MIRROR into $ROOT"
if ! bounded 20m debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -n 20 "$WORK/debootstrap.log" >&2
  exit 1
fi

step "mounts, resolv.conf, CA bundle, Go"
# The root a mount of its own, as a container image's is: ip netns (the
# partition test) makes it a slave mount, which fails on a plain directory.
mnt "$ROOT" --bind "$ROOT"
mnt "$ROOT/proc" -t proc proc
mnt "$ROOT/sys" -t sysfs sysfs 2>/dev/null || mnt "$ROOT/sys" --bind /sys
mnt "$ROOT/dev" --bind /dev
mnt "$ROOT/dev/pts" --bind /dev/pts
mnt "$ROOT/dev/shm" --bind /dev/shm
mnt "$ROOT/usr/local/go" --bind "$HOST_GOROOT"
mount -o remount,bind,ro "$ROOT/usr/local/go" 2>/dev/null || true
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
grep -q localhost "$ROOT/etc/hosts" 2>/dev/null || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$ROOT/etc/hosts"
mkdir -p "$ROOT/etc/ssl"
cp -L "$HOST_CA" "$ROOT/etc/ssl/host-ca.crt"

in_chroot() { # in_chroot TIMEOUT COMMAND: bash -c COMMAND in the chroot, clean environment
  local t=$1
  shift
  bounded "$t" chroot "$ROOT" /usr/bin/env -i \
    HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOPATH=/root/go GOCACHE=/root/.cache/go-build \
    SSL_CERT_FILE=/etc/ssl/host-ca.crt NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca.crt npm_config_cafile=/etc/ssl/host-ca.crt \
    /bin/bash -c "$*"
}

step "the CI image: apt-get install --no-install-recommends $CI_BASE; apt lists deleted"
in_chroot 10m "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $CI_BASE >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"

step "fresh clone of $SRC at $COMMIT"
git clone -q --no-hardlinks --no-checkout "$SRC" "$ROOT/root/repo"
git -C "$ROOT/root/repo" checkout -q --detach "$COMMIT"

step "in the chroot: cd repo && $CHECK_CMD   (timeout $TEST_TIMEOUT)"
rc=0
in_chroot "$TEST_TIMEOUT" "cd /root/repo && go version && $CHECK_CMD" || rc=$?
step "done: $CHECK_CMD exited $rc"
exit "$rc"
