# The targets are exactly what CI runs (`.ci/run` = `make test`).
MUSL := x86_64-unknown-linux-musl
BIN := target/$(MUSL)/release/kubeboot

.PHONY: setup test lint unit static bench demo

setup:
	scripts/setup

## The whole test suite: formatting, lints, unit + integration tests, static release binary.
test: setup lint unit static

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

unit:
	cargo test --all-targets --no-fail-fast

static: $(BIN)
	scripts/check-static $(BIN)

$(BIN): FORCE
	cargo build --release --target $(MUSL)
FORCE:

## Size, wall time and peak RSS figures (not a test).
bench: setup static
	scripts/bench $(BIN)

## The main job on the shipped example user-data, in a sandbox root.
demo:
	scripts/demo
