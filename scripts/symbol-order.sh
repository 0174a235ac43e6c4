#!/usr/bin/env bash
# Writes crates/server/symbol-order.txt: the functions of a release `ostiary` that run, which
# release builds place at the start of the binary's code (crates/server/build.rs explains why).
# It runs the load generator against a server under valgrind's callgrind: first a server that only
# starts and answers a few discovery requests (what an idle server has run, listed first), then
# every operation a few times, on SQLite and, when OSTIARY_TEST_DATABASE_URL and
# OSTIARY_TEST_REDIS_URL are set, on PostgreSQL + Redis too; each group most instructions first.
#
# Run it after a dependency upgrade, a change to ostiary's dependencies or a new toolchain
# (`make symbol-order`), then rebuild:
#   scripts/symbol-order.sh            regenerate the file
#   scripts/symbol-order.sh --check    say how much of the file the current release binary still has
# Needs valgrind (apt-get install valgrind); takes under a minute after the release build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
OUT="$ROOT/crates/server/symbol-order.txt"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
# callgrind names the binary by its real path, symbolic links resolved.
BIN="$(realpath -m "$TARGET_DIR/release/ostiary")"
say() { printf '[symbol-order] %s\n' "$*"; }

# The functions (code symbols) the binary defines.
defined() { nm --defined-only "$BIN" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u; }

if [ "${1:-}" = "--check" ]; then
    [ -x "$BIN" ] || { say "ERROR: no release build at $BIN. Run: cargo build --release -p ostiary"; exit 1; }
    command -v nm >/dev/null 2>&1 || { say "ERROR: nm is needed. Run: apt-get install binutils"; exit 1; }
    listed="$(awk '!/^#/' "$OUT" | sort -u)"
    found="$(comm -12 <(printf '%s\n' "$listed") <(defined) | wc -l)"
    total="$(printf '%s\n' "$listed" | wc -l)"
    say "$found of $total functions in $(basename "$OUT") are in $BIN."
    # Built with the list, the binary's code starts with the first listed function it has.
    # (No pipe is cut short: under pipefail a writer's SIGPIPE would end the script.)
    first="$(awk 'NR == FNR { have[$1] = 1; next } !/^#/ && ($1 in have) { print; exit }' <(defined) "$OUT")"
    at="$(nm --defined-only "$BIN" | awk -v f="$first" '$3 == f && !seen { print $1; seen = 1 }')"
    text="$(readelf -S -W "$BIN" | sed -n 's/.* \.text *PROGBITS *\([0-9a-f]*\) .*/\1/p')"
    if [ -z "$at" ] || [ -z "$text" ] || [ $((16#$at)) -ne $((16#$text)) ]; then
        say "WARNING: $BIN was built without the list (OSTIARY_SYMBOL_ORDER=off, or another linker)."
    fi
    if [ $((found * 10)) -lt $((total * 9)) ]; then
        say "WARNING: the list is stale (under 90 % found): the release binary holds more memory than it needs. Run: make symbol-order"
    fi
    exit 0
fi

for tool in valgrind callgrind_annotate nm; do
    command -v "$tool" >/dev/null 2>&1 || { say "ERROR: $tool is needed. Run: apt-get install valgrind binutils"; exit 1; }
done
say "Building the release binaries..."
(cd "$ROOT" && cargo build --release -p ostiary -p ostiary-bench)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-symbol-order.XXXXXX")"
# shellcheck source=scripts/lib/callgrind-server.sh
. "$ROOT/scripts/lib/callgrind-server.sh"
trap 'stop_servers; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
callgrind_server "$WORK" "$BIN" --demangle=no
run() {
    say "Running the load generator against a server under callgrind ($*)..."
    "$TARGET_DIR/release/ostiary-bench" --server "$WORK/ostiary" --no-half-peak "$@" >"$WORK/bench.log" 2>&1 \
        || { cat "$WORK/bench.log"; exit 1; }
    stop_servers
}
# First a server that starts and answers a few discovery requests: what an idle server has run,
# listed first.
run --backend sqlite --only discovery --ops 1 --concurrency 1
mkdir -p "$WORK/first" && mv "$WORK"/callgrind.*.out "$WORK/first/"
# Then every operation a few times.
LOADS=(--ops 30 --sign-in-ops 20 --concurrency 2)
run --backend sqlite "${LOADS[@]}"
if [ -n "${OSTIARY_TEST_DATABASE_URL:-}" ] && [ -n "${OSTIARY_TEST_REDIS_URL:-}" ]; then
    run --backend postgres "${LOADS[@]}"
else
    say "OSTIARY_TEST_DATABASE_URL / OSTIARY_TEST_REDIS_URL not set: PostgreSQL + Redis skipped."
fi

# The functions of this binary in PROFILES, most instructions (their own, summed over the
# profiles) first; a recursive call's `'N` suffix dropped; only names the binary defines.
ranked() {
    for profile in "$@"; do
        # Lines such as `1,234 ( 0.50%)  ???:NAME [BINARY]`: the count and NAME of BINARY's.
        callgrind_annotate --inclusive=no --threshold=100 "$profile" | awk -v bin="$BIN" '
            BEGIN { suffix = " [" bin "]" }
            length($0) > length(suffix) && substr($0, length($0) - length(suffix) + 1) == suffix {
                n = split(substr($0, 1, length($0) - length(suffix)), f, " ")
                if (f[1] !~ /^[0-9,]+$/) next
                name = f[n]; sub(/.*:/, "", name); gsub(/,/, "", f[1])
                print f[1], name
            }'
    done | sed "s/'[0-9]*\$//" \
        | awk '{ cost[$2] += $1 } END { for (f in cost) print cost[f], f }' | sort -k1,1nr -k2 \
        | awk 'NR == FNR { keep[$1] = 1; next } ($2 in keep) { print $2 }' <(defined) -
}
# Start-up's functions, then the rest of what the loads ran.
{ ranked "$WORK"/first/callgrind.*.out; ranked "$WORK"/callgrind.*.out; } | awk '!seen[$0]++' >"$WORK/order"
if [ "$(wc -l <"$WORK/order")" -lt 1000 ]; then
    say "ERROR: only $(wc -l <"$WORK/order") functions of $BIN found in the profiles (thousands run); $OUT is left as it was."
    exit 1
fi
{
    echo "# The functions a release ostiary runs: those of its start-up, then those of its requests, each"
    echo "# most instructions first. Release builds place them at the start of its code, in this order"
    echo "# (crates/server/build.rs). Written by scripts/symbol-order.sh."
    cat "$WORK/order"
} >"$OUT"
say "Wrote $(wc -l <"$WORK/order") functions to $OUT; rebuild (cargo build --release -p ostiary) to use them."
