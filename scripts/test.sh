#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine:
#   1. formatting and lints,
#   2. Rust unit and integration tests (the client against in-process emulators over
#      loopback, the emulator binary, durability across restarts and kill -9),
#   3. the official Python SDK (refuel==0.15.15 from PyPI, unmodified) against the emulator,
#      and `refuel-sql serve` through the ADBC Flight SQL driver and pyarrow.flight,
#   4. the Python module refuel_datafusion (crates/refuel-python), built into its own venv
#      from the workspace's compiled DataFusion, in datafusion-python 55, pandas, polars
#      and pyarrow, against an emulator in process and moto's S3 server.
# It installs what the tests need (Python venvs in .venv-sdk and .venv-python) and starts
# and stops every service itself. Any missing piece is a failure, never a skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo build (binaries used by the tests)"
# `--tests` gives the binaries the feature set `cargo test` resolves (dev-dependencies
# included), so the dependencies are compiled once for both: a plain `--bins` build
# resolves other features and compiles DataFusion and its tree a second time.
cargo build --workspace --bins --tests --locked

echo "==> cargo test"
# --- Azurite (refuel-sink's Azure tests): scripts/azurite.sh installs and starts it, runs
# --- the tests with AZURITE_BLOB_STORAGE_URL set, and stops it; a failure to start fails.
bash scripts/azurite.sh cargo test --workspace --locked
# --- end Azurite

echo "==> Python: SDK conformance (refuel==0.15.15), Flight SQL clients (ADBC, pyarrow.flight)"
python="$(bash scripts/python-env.sh | tail -n1)"
REFUEL_EMULATOR_BIN="$target_dir/debug/refuel-emulator" REFUEL_SQL_BIN="$target_dir/debug/refuel-sql" \
    "$python" -m pytest tests/python -q -p no:cacheprovider

echo "==> Python: refuel_datafusion (datafusion 55, pandas, polars, pyarrow)"
bash scripts/python-module.sh
