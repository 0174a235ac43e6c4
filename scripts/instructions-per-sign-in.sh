#!/usr/bin/env bash
# Instructions per sign-in: the server run under valgrind's callgrind while ostiary-bench signs in
# SIGN_INS new users at concurrency 4 on SQLite, its instructions counted in every thread but the
# main one (start-up: migrations, the signing keys, whose RSA key generation varies from run to
# run), divided by the sign-ins.
#
# Sign-ins per server CPU-second vary by up to ±8 % between two runs of one build on this machine,
# this count by under 1 %. It leaves out the kernel's work (system calls, fsync, the
# scheduler), so it judges a change to the server's own code, not one to its I/O.
#
# Usage: scripts/instructions-per-sign-in.sh [BINARY] [SIGN_INS]
#   BINARY    the ostiary binary to count (default target/release/ostiary)
#   SIGN_INS  how many sign-ins (default 200; about a minute and a half)
# Needs valgrind and a release build of ostiary-bench (cargo build --release -p ostiary-bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BINARY="$(realpath "${1:-$ROOT/target/release/ostiary}")"
SIGN_INS="${2:-200}"
BENCH="$ROOT/target/release/ostiary-bench"
say() { printf '[instructions] %s\n' "$*"; }
command -v valgrind >/dev/null || { say "valgrind is not installed (apt-get install valgrind)."; exit 1; }
[ -x "$BINARY" ] || { say "no server binary at $BINARY (cargo build --release -p ostiary)."; exit 1; }
[ -x "$BENCH" ] || { say "no load generator at $BENCH (cargo build --release -p ostiary-bench)."; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-instructions.XXXXXX")"
# shellcheck source=scripts/lib/callgrind-server.sh
. "$ROOT/scripts/lib/callgrind-server.sh"
trap 'stop_servers; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
# One profile per thread (callgrind.PID.out-01 is the main thread's).
callgrind_server "$WORK" "$BINARY" --separate-threads=yes
say "signing in $SIGN_INS users on $BINARY under callgrind (about $((SIGN_INS * 45 / 100)) s)"
"$BENCH" --server "$WORK/ostiary" --backend sqlite --ops 100 --sign-in-ops "$SIGN_INS" --concurrency 4 \
    --only sign_in --no-half-peak >"$WORK/bench.log" 2>&1 ||
    { say "the load generator failed:"; cat "$WORK/bench.log"; exit 1; }
stop_servers

# Every sign-in sends one email; the bench counts those, warm-up sign-ins included.
signed_in="$(grep -o '[0-9]* emails sent' "$WORK/bench.log" | awk '{print $1}')"
# The CLI's commands the bench ran ran under callgrind too: only the process that served counts.
served="$(grep -l '^cmd: .* serve$' "$WORK"/callgrind.*.out-01 | head -1)"
[ -n "$served" ] || { say "no profile of the server was written"; exit 1; }
total=0
for file in "${served%-01}"-*; do
    case "$file" in *-01) continue ;; esac # the main thread: start-up
    count="$(awk '/^summary:/ {print $2; exit}' "$file")"
    total=$((total + count))
done
say "$signed_in sign-ins, $total instructions outside start-up"
echo "instructions per sign-in: $((total / signed_in))"
