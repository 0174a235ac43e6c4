#!/usr/bin/env bash
# Runs the headless-Chromium end-to-end tests against a freshly started Ostiary.
#
#   OSTIARY_BIN        path to the server binary (default: debug/ostiary in the target directory
#                      cargo reports, which honours CARGO_TARGET_DIR and .cargo/config)
#   OSTIARY_ARTIFACTS  directory for the screenshots the tests save (default: browser-artifacts in
#                      the target directory; empty to save none)
#   OSTIARY_KEEP_TMP=1 keep the temporary data directory even when tests pass
#
# Arguments, when given, name the test files to run (tests/browser/run.sh a11y login); all by default.
#
# Exit status is the status of `node --test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO_ROOT="$PWD"

say() { printf '[browser-tests] %s\n' "$*"; }

if [ -z "${OSTIARY_BIN:-}" ]; then
    TARGET_DIR="$(${CARGO:-cargo} metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    OSTIARY_BIN="$TARGET_DIR/debug/ostiary"
fi
BIN="$OSTIARY_BIN"
if [ ! -x "$BIN" ]; then
    say "ERROR: the server binary $BIN does not exist (or is not executable)."
    say "Build it first with: cargo build   (or set OSTIARY_BIN=/path/to/ostiary)"
    exit 1
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    say "ERROR: playwright-core is not installed in tests/browser/node_modules."
    say "Install it with: scripts/test-deps.sh   (or: cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)"
    exit 1
fi

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/ostiary-browser.XXXXXX")"
BASE="http://127.0.0.1:$PORT"
SERVER_PID=""
status=1

PASSKEY_PID=""

stop_server() {
    local pid="$1"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

cleanup() {
    stop_server "$SERVER_PID"
    stop_server "$PASSKEY_PID"
    if [ "$status" -eq 0 ] && [ "${OSTIARY_KEEP_TMP:-0}" != "1" ]; then
        rm -rf "$TMP"
    else
        say "Temporary files kept in $TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

print_server_log() {
    say "----- server log ($TMP/server.log) -----"
    cat "$TMP/server.log" 2>/dev/null || say "(no server log)"
    say "----- end of server log -----"
    if [ -f "$TMP/passkeys/server.log" ]; then
        say "----- passkey server log ($TMP/passkeys/server.log) -----"
        cat "$TMP/passkeys/server.log"
        say "----- end of passkey server log -----"
    fi
}

# The widget test embeds Ostiary's widget in a page of its own, served from another origin (an
# "application" at APP_PORT); its public client is registered before the server starts.
APP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
WIDGET_CLIENT_ID="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Widget test app" --public \
        --redirect-uri "http://127.0.0.1:$APP_PORT/callback" --login-methods email_code,sms_code --api-login true --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])'
)"
say "Registered the widget test's public client $WIDGET_CLIENT_ID (app origin http://127.0.0.1:$APP_PORT)"
# The step-up test's confidential client: a second factor on risky sign-ins, enrolment when none.
# Its application (the redirect URI) listens on STEPUP_PORT.
STEPUP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
STEPUP_CLIENT="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Step-up test app" \
        --redirect-uri "http://127.0.0.1:$STEPUP_PORT/callback" --step-up risky --without-factor enroll --json
)"
STEPUP_CLIENT_ID="$(printf '%s' "$STEPUP_CLIENT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')"
STEPUP_CLIENT_SECRET="$(printf '%s' "$STEPUP_CLIENT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')"

# The admin console test: an admin, and a confidential app that always gets a refresh token and never
# asks for a second factor (its user's tokens are what the admin's block must end).
ADMIN_EMAIL="admin-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
    "$BIN" --config config/development.toml user create --email "$ADMIN_EMAIL" --admin >/dev/null
ADMIN_APP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
ADMIN_APP="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Admin test app" \
        --redirect-uri "http://127.0.0.1:$ADMIN_APP_PORT/callback" --refresh-tokens always --step-up never --json
)"
ADMIN_APP_CLIENT_ID="$(printf '%s' "$ADMIN_APP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')"
ADMIN_APP_CLIENT_SECRET="$(printf '%s' "$ADMIN_APP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')"
OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
    "$BIN" --config config/development.toml blocks add 203.0.113.77 --reason "browser test" >/dev/null
say "Made the admin $ADMIN_EMAIL, the admin test's app $ADMIN_APP_CLIENT_ID and a block of 203.0.113.77"

# The accessibility sweep: an admin per language (each sets up an authenticator app on its first
# sign-in), and a step-up app of its own (asks for a second factor on risky sign-ins, enrolment when
# none) whose application listens on A11Y_APP_PORT.
A11Y_ADMIN_EN="a11y-en-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
A11Y_ADMIN_FR="a11y-fr-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
for admin in "$A11Y_ADMIN_EN" "$A11Y_ADMIN_FR"; do
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml user create --email "$admin" --admin >/dev/null
done
A11Y_APP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
A11Y_CLIENT_ID="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Accessibility test app" --public \
        --redirect-uri "http://127.0.0.1:$A11Y_APP_PORT/callback" --step-up risky --without-factor enroll --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])'
)"
# The same kind of app with a client's branding: its name, colour and logo run through the login,
# code and enrolment pages (the logo's host does not exist here: the page must stay accessible
# when an image is missing).
A11Y_BRANDED_ID="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Branded test app" --public \
        --redirect-uri "http://127.0.0.1:$A11Y_APP_PORT/callback" --step-up risky --without-factor enroll \
        --brand-name "Acme Travel" --brand-color "#7a1f5c" --brand-logo "https://logo.invalid/acme.png" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])'
)"
# An app that sends magic links through the API (a link bound to the first browser that opens it:
# the "Switch account?" question), and a user per language whose wrong codes get their IP blocked
# (the unblock link's form).
A11Y_API_ID="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Link API test app" --public \
        --redirect-uri "http://127.0.0.1:$A11Y_APP_PORT/callback" --login-methods email_code,email_link \
        --api-login true --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])'
)"
# A device (RFC 8628) of a public app allowed the device grant: its /device pages.
A11Y_DEVICE_ID="$(
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml client create --name "Device test app" --public \
        --redirect-uri "http://127.0.0.1:$A11Y_APP_PORT/callback" --device-grant true --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])'
)"
A11Y_BLOCKED_EN="a11y-blocked-en-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
A11Y_BLOCKED_FR="a11y-blocked-fr-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
for user in "$A11Y_BLOCKED_EN" "$A11Y_BLOCKED_FR"; do
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml user create --email "$user" >/dev/null
done
# A user per language with a verified address and number: step-up sends a code on the channel the
# sign-in did not use.
A11Y_TWO_EN="a11y-two-en-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
A11Y_TWO_FR="a11y-two-fr-$(python3 -c 'import secrets; print(secrets.token_hex(5))')@example.com"
A11Y_PHONE_EN="+447400$(python3 -c 'import random; print(random.randrange(100000, 999999))')"
A11Y_PHONE_FR="+447400$(python3 -c 'import random; print(random.randrange(100000, 999999))')"
for pair in "$A11Y_TWO_EN $A11Y_PHONE_EN" "$A11Y_TWO_FR $A11Y_PHONE_FR"; do
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml user create --email "${pair% *}" >/dev/null
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP" OSTIARY__SERVER__ISSUER="$BASE" \
        "$BIN" --config config/development.toml user update "${pair% *}" --phone "${pair#* }" \
        --phone-verified true >/dev/null
done
say "Made the accessibility sweep's admins $A11Y_ADMIN_EN and $A11Y_ADMIN_FR and its apps $A11Y_CLIENT_ID, $A11Y_BRANDED_ID and $A11Y_API_ID"

# Two messages per address per minute (the default is one): the step-up test signs one address in
# twice within a minute, and the resend test shows the countdown after one resend. Every test comes
# from 127.0.0.1: 500 sign-ins an hour from it (the default is 50). Six wrong codes against one
# account block the IP for it (the default is ten), so the sweep reaches the unblock form after
# two spent codes.
say "Starting $BIN on $BASE (data in $TMP)"
OSTIARY__SERVER__BIND="127.0.0.1:$PORT" \
    OSTIARY__SERVER__ISSUER="$BASE" \
    OSTIARY__DATABASE__URL="$TMP/ostiary.db" \
    OSTIARY__SERVER__DATA_DIR="$TMP" \
    OSTIARY__PASSWORDLESS__LIMITS__SENDS_PER_DESTINATION_PER_MINUTE=2 \
    OSTIARY__PASSWORDLESS__LIMITS__STARTS_PER_IP_PER_HOUR=500 \
    OSTIARY__PASSWORDLESS__LIMITS__FAILURES_PER_IP_PER_ACCOUNT=6 \
    "$BIN" serve --config config/development.toml >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

# Passkeys: browsers refuse an IP address as a passkey's relying party, so the passkey test has a
# server of its own whose issuer is http://localhost:PASSKEY_PORT, with its own data and a
# confidential app (the redirect URI) on PASSKEY_APP_PORT.
PASSKEY_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
PASSKEY_APP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
PASSKEY_BASE="http://localhost:$PASSKEY_PORT"
mkdir -p "$TMP/passkeys"
PASSKEY_APP="$(
    OSTIARY__DATABASE__URL="$TMP/passkeys/ostiary.db" OSTIARY__SERVER__DATA_DIR="$TMP/passkeys" \
        OSTIARY__SERVER__ISSUER="$PASSKEY_BASE" \
        "$BIN" --config config/development.toml client create --name "Passkey test app" \
        --redirect-uri "http://localhost:$PASSKEY_APP_PORT/callback" --step-up risky --without-factor allow --json
)"
PASSKEY_CLIENT_ID="$(printf '%s' "$PASSKEY_APP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')"
PASSKEY_CLIENT_SECRET="$(printf '%s' "$PASSKEY_APP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')"
say "Starting a second $BIN on $PASSKEY_BASE for the passkey test (data in $TMP/passkeys)"
OSTIARY__SERVER__BIND="127.0.0.1:$PASSKEY_PORT" \
    OSTIARY__SERVER__ISSUER="$PASSKEY_BASE" \
    OSTIARY__DATABASE__URL="$TMP/passkeys/ostiary.db" \
    OSTIARY__SERVER__DATA_DIR="$TMP/passkeys" \
    OSTIARY__PASSWORDLESS__LIMITS__SENDS_PER_DESTINATION_PER_MINUTE=2 \
    "$BIN" serve --config config/development.toml >"$TMP/passkeys/server.log" 2>&1 &
PASSKEY_PID=$!

# Prints the HTTP status of a GET (000 when nothing answers). Uses curl when
# present, otherwise python3 (which run.sh needs anyway for the port).
http_status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
    fi
}

say "Waiting up to 60 s for $BASE/.well-known/openid-configuration"
ready=0
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        say "ERROR: the server exited before it became ready."
        print_server_log
        exit 1
    fi
    if [ "$(http_status "$BASE/.well-known/openid-configuration")" = "200" ]; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    say "ERROR: the server did not answer 200 on /.well-known/openid-configuration within 60 s."
    print_server_log
    exit 1
fi
ready=0
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
    if [ "$(http_status "http://127.0.0.1:$PASSKEY_PORT/.well-known/openid-configuration")" = "200" ]; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    say "ERROR: the passkey test's server did not become ready within 60 s."
    print_server_log
    exit 1
fi
say "Server is ready; running the browser tests."

# Every test file, or only those named on the command line (run.sh a11y stepup).
FILES=("$REPO_ROOT"/tests/browser/*.test.mjs)
if [ "$#" -gt 0 ]; then
    FILES=()
    for name in "$@"; do FILES+=("$REPO_ROOT/tests/browser/${name%.test.mjs}.test.mjs"); done
fi

# Screenshots of the pages the tests pass through (and of every open page when one fails).
if [ -z "${OSTIARY_ARTIFACTS+set}" ]; then
    OSTIARY_ARTIFACTS="$("${CARGO:-cargo}" metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/browser-artifacts"
fi
export OSTIARY_ARTIFACTS
[ -z "$OSTIARY_ARTIFACTS" ] || say "Screenshots go to $OSTIARY_ARTIFACTS."

set +e
OSTIARY_URL="$BASE" APP_PORT="$APP_PORT" WIDGET_CLIENT_ID="$WIDGET_CLIENT_ID" \
    STEPUP_PORT="$STEPUP_PORT" STEPUP_CLIENT_ID="$STEPUP_CLIENT_ID" STEPUP_CLIENT_SECRET="$STEPUP_CLIENT_SECRET" \
    ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_APP_PORT="$ADMIN_APP_PORT" ADMIN_APP_CLIENT_ID="$ADMIN_APP_CLIENT_ID" \
    ADMIN_APP_CLIENT_SECRET="$ADMIN_APP_CLIENT_SECRET" \
    PASSKEY_URL="$PASSKEY_BASE" PASSKEY_APP_PORT="$PASSKEY_APP_PORT" PASSKEY_CLIENT_ID="$PASSKEY_CLIENT_ID" \
    PASSKEY_CLIENT_SECRET="$PASSKEY_CLIENT_SECRET" \
    A11Y_ADMIN_EN="$A11Y_ADMIN_EN" A11Y_ADMIN_FR="$A11Y_ADMIN_FR" A11Y_APP_PORT="$A11Y_APP_PORT" \
    A11Y_CLIENT_ID="$A11Y_CLIENT_ID" A11Y_BRANDED_ID="$A11Y_BRANDED_ID" A11Y_API_ID="$A11Y_API_ID" \
    A11Y_DEVICE_ID="$A11Y_DEVICE_ID" \
    A11Y_BLOCKED_EN="$A11Y_BLOCKED_EN" A11Y_BLOCKED_FR="$A11Y_BLOCKED_FR" A11Y_TWO_EN="$A11Y_TWO_EN" \
    A11Y_TWO_FR="$A11Y_TWO_FR" A11Y_PHONE_EN="$A11Y_PHONE_EN" A11Y_PHONE_FR="$A11Y_PHONE_FR" \
    node --test "${FILES[@]}"
status=$?
set -e

if [ "$status" -ne 0 ]; then
    say "Browser tests FAILED (node exit status $status)."
    print_server_log
else
    say "Browser tests passed."
fi
exit "$status"
