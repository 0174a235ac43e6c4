#!/usr/bin/env bash
# Instructions per sign-in: the server run under valgrind's callgrind while ostiary-bench signs in
# SIGN_INS new users at concurrency 4 on SQLite, its instructions counted in every thread but the
# main one (start-up: migrations, the signing keys, whose RSA key generation varies from run to
# run), divided by the sign-ins.
#
# Sign-ins per server CPU-second vary by up to ±8 % between two runs of one build on this machine,
# this count by about 0.5 %. It leaves out the kernel's work (system calls, fsync, the
# scheduler), so it judges a change to the server's own code, not one to its I/O.
#
# Usage: scripts/instructions-per-sign-in.sh [BINARY] [SIGN_INS]
#   BINARY    the ostiary binary to count (default target/release/ostiary)
#   SIGN_INS  how many sign-ins (default 200; about a minute and a half)
# Needs valgrind and a release build of ostiary-bench (cargo build --release -p ostiary-bench).
set -euo pipefail

# Called by ostiary-bench as its --server: the CLI's commands run as they are; `serve` runs under
# callgrind in a child, which the bench's SIGKILL of this script leaves running until it is told
# to stop (below) and writes its counts.
if [ -n "${OSTIARY_CALLGRIND_OUT:-}" ]; then
    case " $* " in
    *" serve"*) ;;
    *) exec "$OSTIARY_CALLGRIND_REAL" "$@" ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$OSTIARY_CALLGRIND_OUT" --separate-threads=yes \
        --dump-instr=no "$OSTIARY_CALLGRIND_REAL" "$@" >"$OSTIARY_CALLGRIND_OUT.log" 2>&1 &
    wait
    exit 0
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARY="$(realpath "${1:-$REPO_ROOT/target/release/ostiary}")"
SIGN_INS="${2:-200}"
BENCH="$REPO_ROOT/target/release/ostiary-bench"
say() { printf '[instructions] %s\n' "$*"; }
command -v valgrind >/dev/null || { say "valgrind is not installed (apt-get install valgrind)."; exit 1; }
[ -x "$BINARY" ] || { say "no server binary at $BINARY (cargo build --release -p ostiary)."; exit 1; }
[ -x "$BENCH" ] || { say "no load generator at $BENCH (cargo build --release -p ostiary-bench)."; exit 1; }

WORK="$(mktemp -d)"
trap 'pkill -TERM -f -- "callgrind-out-file=$WORK/" 2>/dev/null || true; rm -rf "$WORK"' EXIT
say "signing in $SIGN_INS users on $BINARY under callgrind (about $((SIGN_INS * 45 / 100)) s)"
OSTIARY_CALLGRIND_OUT="$WORK/counts" OSTIARY_CALLGRIND_REAL="$BINARY" \
    "$BENCH" --server "$REPO_ROOT/scripts/instructions-per-sign-in.sh" --backend sqlite --ops 100 \
    --sign-in-ops "$SIGN_INS" --concurrency 4 --only sign_in --no-half-peak >"$WORK/bench.log" 2>&1 ||
    { say "the load generator failed:"; cat "$WORK/bench.log"; exit 1; }
# The bench killed the wrapper; stop the server so callgrind writes its counts.
server="$(pgrep -f -- "callgrind-out-file=$WORK/counts" | head -1 || true)"
[ -n "$server" ] || { say "the server under callgrind is gone; its log:"; cat "$WORK/counts.log"; exit 1; }
kill -TERM "$server"
while kill -0 "$server" 2>/dev/null; do sleep 1; done

# Every sign-in sends one email; the bench counts those, warm-up sign-ins included.
signed_in="$(grep -o '[0-9]* emails sent' "$WORK/bench.log" | awk '{print $1}')"
total=0
for file in "$WORK"/counts-*; do
    case "$file" in *-01) continue ;; esac # the main thread: start-up
    count="$(awk '/^summary:/ {print $2; exit}' "$file")"
    total=$((total + count))
done
say "$signed_in sign-ins, $total instructions outside start-up"
echo "instructions per sign-in: $((total / signed_in))"
