#!/usr/bin/env bash
# Builds wsd and wsload as they were at a git revision, beside the current
# ones: bench/bin/wsd-base and bench/bin/wsload-base, from a temporary
# `git worktree` that is removed afterwards (also when the build fails).
# bench/bin/base.txt says which revision they are. Used by
# `make bench-compare BASE=<rev>` (and `make bench-base`).
set -euo pipefail
base=${1:?usage: bench/build-base.sh <git revision>}
go=${GO:-go}
root=$(git rev-parse --show-toplevel)
rev=$(git -C "$root" rev-parse --verify "$base^{commit}")
tmp=$(mktemp -d)
cleanup() {
	git -C "$root" worktree remove --force "$tmp/src" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
git -C "$root" worktree add --detach "$tmp/src" "$rev" >/dev/null
(cd "$tmp/src" && "$go" build -o "$tmp/bin/" ./cmd/wsd ./cmd/wsload)
mkdir -p "$root/bench/bin"
cp "$tmp/bin/wsd" "$root/bench/bin/wsd-base"
cp "$tmp/bin/wsload" "$root/bench/bin/wsload-base"
echo "wsd-base and wsload-base: $base = $(git -C "$root" log -1 --format='%h %s' "$rev" | cut -c1-120)" | tee "$root/bench/bin/base.txt"
