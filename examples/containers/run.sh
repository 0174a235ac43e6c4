#!/usr/bin/env bash
# Starts two Ostiary nodes from the container image, on one PostgreSQL database and one Redis, and
# checks that they act as one deployment: each serves the same keys, a token one node issues is live
# at the other, revoking it at one ends it at both, and both run as uid 10001.
#
#   cargo build --release -p ostiary && examples/containers/run.sh
#
#   DATABASE_URL  a PostgreSQL server the nodes may create a database on (default
#                 postgres://postgres@127.0.0.1:5432/postgres; the example uses a database of its own)
#   REDIS_URL     default redis://127.0.0.1:6379
#   ENGINE        podman (default) or docker
#   ENGINE_OPTS   options before every command of the engine (for example `--runtime runc`)
#   BUILD_OPTS    options of the build (for example `--isolation chroot` where the build cannot make
#                 cgroups; `--network host` is always given)
#   KEEP=1        leave the nodes running at the end (stop them with: $ENGINE rm -f ostiary-node-1 ostiary-node-2)
#
# The nodes use the host's network (--network host), so they reach PostgreSQL and Redis on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ENGINE="${ENGINE:-podman}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
IMAGE="${IMAGE:-localhost/ostiary:example}"
PORTS=(18081 18082)
say() { printf '[containers] %s\n' "$*"; }
fail() { say "ERROR: $*"; exit 1; }

[ -x target/release/ostiary ] || fail "build the binary first: cargo build --release -p ostiary"
command -v "$ENGINE" >/dev/null || fail "$ENGINE is not installed (apt-get install podman)"
command -v psql >/dev/null || fail "psql is needed to make the example's database (apt-get install postgresql-client)"

say "Building the image $IMAGE from Containerfile..."
# shellcheck disable=SC2086
engine() { "$ENGINE" ${ENGINE_OPTS:-} "$@"; }
# shellcheck disable=SC2086
engine build --quiet --network host ${BUILD_OPTS:-} -t "$IMAGE" -f Containerfile . >/dev/null
say "Image size: $(engine image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"

DB="ostiary_containers_$$"
psql "$DATABASE_URL" -qc "CREATE DATABASE $DB" >/dev/null
NODE_DB="${DATABASE_URL%/*}/$DB"
MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        engine rm -f ostiary-node-1 ostiary-node-2 >/dev/null 2>&1 || true
        psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

# Every node gets the same settings; each its own port.
node() {
    local name="$1" port="$2"
    shift 2
    engine run --network host --name "$name" \
        -v "$PWD/examples/containers/nodes.toml:/etc/ostiary/ostiary.toml:ro" \
        -e OSTIARY__SERVER__BIND="127.0.0.1:$port" \
        -e OSTIARY__DATABASE__URL="$NODE_DB" \
        -e OSTIARY__REDIS__URL="$REDIS_URL" \
        -e OSTIARY__SECRETS__MASTER_KEY="$MASTER_KEY" \
        "$@"
}
say "Migrating the database once, as a deployment step..."
node ostiary-migrate 0 --rm "$IMAGE" migrate --config /etc/ostiary/ostiary.toml >/dev/null
CLIENT="$(node ostiary-cli 0 --rm "$IMAGE" client create --config /etc/ostiary/ostiary.toml --name "Container example" \
    --redirect-uri https://app.example.test/cb --json)"
CLIENT_ID="$(printf '%s' "$CLIENT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')"
CLIENT_SECRET="$(printf '%s' "$CLIENT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')"

# One after the other: the first node to start on an empty database makes the signing keys, and
# the second finds them (two nodes started at the same instant would each make a set, and publish
# each other's only after their next reload, within a minute).
for i in 1 2; do
    port="${PORTS[$((i - 1))]}"
    node "ostiary-node-$i" "$port" -d "$IMAGE" >/dev/null
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { engine logs "ostiary-node-$i"; fail "node $i is not ready"; }
done
say "Both nodes are ready on ports ${PORTS[*]}."

check() { if eval "$2"; then say "ok: $1"; else fail "$1"; fi; }
one="http://127.0.0.1:${PORTS[0]}"
two="http://127.0.0.1:${PORTS[1]}"
check "both nodes publish the same keys" '[ "$(curl -fsS "$one/jwks.json")" = "$(curl -fsS "$two/jwks.json")" ]'
TOKEN="$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$one/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
active() { curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$TOKEN" "$1/introspect" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["active"])'; }
check "a token node 1 issued is live at node 2" '[ "$(active "$two")" = True ]'
curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$TOKEN" "$two/revoke" >/dev/null
check "revoked at node 2, it is dead at node 1" '[ "$(active "$one")" = False ]'
check "the nodes run as uid 10001, not root" '[ "$(engine exec ostiary-node-1 id -u)" = 10001 ]'
say "The example works."
