# Ostiary — the commands a newcomer needs.
#   make run    start a working provider (SQLite, dev outbox, demo app) on http://localhost:8080
#   make test   run every test (installs/starts what the tests need)
#   make soak   the SIGKILL durability test at length: 60 kills under load, on SQLite and PostgreSQL
#   make bench  run the benchmarks: the load generator on SQLite and on PostgreSQL + Redis
#   make bench-peer  the same loads against node-oidc-provider 9, and the ratio table
#   make bench-instructions  instructions per sign-in under callgrind, to compare two builds
#   make fuzz   fuzz /authorize's parameters and JWT verification for a minute each (nightly)
#   make container  the container image, and two nodes of it on PostgreSQL and Redis, checked
#   make symbol-order  list again the functions release builds place first (after an upgrade)
#   make lint   clippy and rustfmt check
#   make fmt    format the code

CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: run test test-rust test-browser soak deps bench bench-peer bench-instructions fuzz lint fmt container symbol-order

run:
	$(CARGO) run --bin ostiary -- --config config/development.toml serve

deps:
	@scripts/test-deps.sh

# Rust tests (unit + integration, on SQLite and on PostgreSQL + Redis), then the headless-Chromium
# tests against the built binary.
test: deps
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	$(CARGO) build --bin ostiary
	scripts/with-test-services.sh $(CARGO) nextest run --workspace --no-fail-fast
	tests/browser/run.sh

test-rust:
	scripts/with-test-services.sh $(CARGO) nextest run --workspace

test-browser:
	$(CARGO) build --bin ostiary
	tests/browser/run.sh

# The container image (Containerfile) from the release binary, then examples/containers/run.sh:
# two nodes on one PostgreSQL database and one Redis, checked to act as one deployment. Needs podman
# (or ENGINE=docker) and psql; its variables are listed at the top of the script.
container:
	$(CARGO) build --release -p ostiary
	examples/containers/run.sh

# The server killed with SIGKILL under load and restarted, OSTIARY_FAULT_KILLS times per backend
# (`make test` runs the same test with 3): every acknowledged write must survive, no answer a 5xx.
SOAK_KILLS ?= 60
soak: deps
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	OSTIARY_FAULT_KILLS=$(SOAK_KILLS) scripts/with-test-services.sh \
		$(CARGO) nextest run --workspace -E 'test(faults::)' --no-fail-fast --no-capture

# The load generator (crates/bench; docs/performance.md explains every figure): it starts the
# release `ostiary` pinned to CPU 0 and drives it from CPU 1 (when taskset exists), on SQLite, then
# on PostgreSQL + Redis (OSTIARY_TEST_DATABASE_URL / OSTIARY_TEST_REDIS_URL, or throwaway ones on
# CPU 1 too). Options go through BENCH_ARGS, e.g. BENCH_ARGS="--ops 500 --only sign_in,refresh";
# every figure is written to $(BENCH_OUT)/*.json. The in-process sign-in bench stays runnable by
# hand: cargo bench -p ostiary --bench login.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
BENCH_OUT ?= $(TARGET_DIR)/bench
BENCH_ARGS ?=
PIN_DRIVER := $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c 1)
BENCH_BIN = $(TARGET_DIR)/release/ostiary-bench --server $(TARGET_DIR)/release/ostiary
bench:
	$(CARGO) bench -p authorization-server --bench signing
	$(CARGO) build --release -p ostiary -p ostiary-bench
	-@CARGO_TARGET_DIR=$(TARGET_DIR) scripts/symbol-order.sh --check
	@mkdir -p $(BENCH_OUT)
	$(PIN_DRIVER) $(BENCH_BIN) --backend sqlite --json $(BENCH_OUT)/sqlite.json $(BENCH_ARGS)
	@if [ -n "$${OSTIARY_TEST_DATABASE_URL:-}" ] || command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		$(PIN_DRIVER) scripts/with-test-services.sh $(BENCH_BIN) --backend postgres --json $(BENCH_OUT)/postgres.json $(BENCH_ARGS); \
	else \
		echo "bench: no PostgreSQL here (scripts/test-deps.sh installs it, or set OSTIARY_TEST_DATABASE_URL): PostgreSQL + Redis skipped"; \
	fi

# node-oidc-provider 9 (bench/peer, in memory, login completing by itself) under the same refresh,
# discovery, JWKS and code-flow loads as Ostiary on SQLite, in the same run; prints the ratios.
bench-peer:
	@command -v node >/dev/null 2>&1 || { echo "bench-peer: Node.js is needed (apt-get install nodejs npm)"; exit 1; }
	$(CARGO) build --release -p ostiary -p ostiary-bench
	cd bench/peer && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)
	-@CARGO_TARGET_DIR=$(TARGET_DIR) scripts/symbol-order.sh --check
	@mkdir -p $(BENCH_OUT)
	$(PIN_DRIVER) $(BENCH_BIN) --backend sqlite --peer bench/peer/server.mjs --json $(BENCH_OUT)/peer.json $(BENCH_ARGS)

# Instructions per sign-in, counted by callgrind (scripts/instructions-per-sign-in.sh): repeatable to
# under 1 %, where sign-ins per CPU-second vary by several per cent between runs; to compare two
# builds' own code. Needs valgrind.
SIGN_INS ?= 200
bench-instructions:
	$(CARGO) build --release -p ostiary -p ostiary-bench
	scripts/instructions-per-sign-in.sh $(TARGET_DIR)/release/ostiary $(SIGN_INS)

# crates/server/symbol-order.txt: the functions a release build places at the start of its code,
# so that a server's memory holds the code it runs, not the 64 KiB around each function it touches
# (crates/server/build.rs). Run after a dependency upgrade, a change to ostiary's dependencies or a
# new toolchain; needs valgrind.
symbol-order:
	scripts/symbol-order.sh

# cargo-fuzz needs the nightly toolchain; the targets live in fuzz/ (outside the workspace).
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	cd fuzz && $(CARGO) +nightly fuzz run -O authorize_parameters -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && $(CARGO) +nightly fuzz run -O jwt_verify -- -max_total_time=$(FUZZ_SECONDS)

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

fmt:
	$(CARGO) fmt --all
