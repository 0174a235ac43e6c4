# Ostiary — the commands a newcomer needs.
#   make run    start a working provider (SQLite, dev outbox, demo app) on http://localhost:8080
#   make test   run every test (installs/starts what the tests need)
#   make soak   the SIGKILL durability test at length: 60 kills under load, on SQLite and PostgreSQL
#   make bench  run the benchmarks
#   make fuzz   fuzz /authorize's parameters and JWT verification for a minute each (nightly)
#   make lint   clippy and rustfmt check
#   make fmt    format the code

CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: run test test-rust test-browser soak deps bench fuzz lint fmt

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

# The server killed with SIGKILL under load and restarted, OSTIARY_FAULT_KILLS times per backend
# (`make test` runs the same test with 3): every acknowledged write must survive, no answer a 5xx.
SOAK_KILLS ?= 60
soak: deps
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	OSTIARY_FAULT_KILLS=$(SOAK_KILLS) scripts/with-test-services.sh \
		$(CARGO) nextest run --workspace -E 'test(faults::)' --no-fail-fast --no-capture

bench:
	$(CARGO) bench -p authorization-server --bench signing
	$(CARGO) bench -p ostiary --bench login

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
