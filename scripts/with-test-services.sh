#!/usr/bin/env bash
# Runs a command with a PostgreSQL and a Redis for the tests:
#   - OSTIARY_TEST_DATABASE_URL / OSTIARY_TEST_REDIS_URL when set (tests create and drop their own
#     databases there, and prefix their Redis keys, so nothing else is touched);
#   - otherwise a throwaway PostgreSQL cluster (initdb in a temp dir) and a throwaway redis-server,
#     both on free ports, stopped when the command ends.
# Usage: scripts/with-test-services.sh COMMAND [ARGS...]
set -euo pipefail

say() { printf '[test-services] %s\n' "$*"; }

# The tests reach PostgreSQL on this machine without TLS (libpq reads PGSSLMODE when a URL names no
# sslmode). A test process ends while the server it runs in-process still has threads at work, and
# libpq's TLS is OpenSSL, whose exit handler frees what such a thread may still be using: a test
# that had passed was then reported as a SIGSEGV (once in 669 tests, on a server with `ssl = on`).
export PGSSLMODE="${PGSSLMODE:-disable}"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-services.XXXXXX")"
chmod 755 "$TMP"
PG_DIR=""
REDIS_PID=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
    if [ -n "$PG_DIR" ]; then as_pg "$PG_CTL" -D "$PG_DIR" -m immediate stop >/dev/null 2>&1 || true; fi
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "${OSTIARY_TEST_DATABASE_URL:-}" ]; then
    INITDB="$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$INITDB" ]; then
        say "ERROR: PostgreSQL is needed for the tests. Run: scripts/test-deps.sh (or apt-get install postgresql), or set OSTIARY_TEST_DATABASE_URL."
        exit 1
    fi
    PG_CTL="$(dirname "$INITDB")/pg_ctl"
    PG_DIR="$TMP/pg"
    PG_PORT="$(free_port)"
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR" "$TMP"
    say "Starting a throwaway PostgreSQL on port $PG_PORT..."
    as_pg "$INITDB" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; exit 1; }
    as_pg "$PG_CTL" -D "$PG_DIR" -w -l "$TMP/pg.log" -o "-p $PG_PORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
        || { cat "$TMP/pg.log"; exit 1; }
    export OSTIARY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi

if [ -z "${OSTIARY_TEST_REDIS_URL:-}" ]; then
    if ! command -v redis-server >/dev/null 2>&1; then
        say "ERROR: Redis is needed for the tests. Run: scripts/test-deps.sh (or apt-get install redis-server), or set OSTIARY_TEST_REDIS_URL."
        exit 1
    fi
    REDIS_PORT="$(free_port)"
    say "Starting a throwaway Redis on port $REDIS_PORT..."
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    export OSTIARY_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi

say "PostgreSQL: ${OSTIARY_TEST_DATABASE_URL%%@*}@…  Redis: $OSTIARY_TEST_REDIS_URL"
"$@"
