#!/usr/bin/env bash
# Builds the Python module refuel_datafusion (crates/refuel-python) into its test venv and
# runs its tests:
#
#   bash scripts/python-module.sh            # venv, build, pytest
#   bash scripts/python-module.sh --build    # venv and build only; prints the venv's python
#
# The venv is <repo>/.venv-python (crates/refuel-python/tests/requirements.txt: datafusion
# 55, pandas, polars, pyarrow, the official SDK, maturin, moto). The module is built by
# `pip install ./crates/refuel-python` (maturin, the dev profile, the workspace's target
# directory), so it reuses most of what `cargo build --workspace --tests` compiled; it warns
# naming the DataFusion/Arrow crates it compiles once more (on a cold target: the `arrow`
# and `datafusion` facades and what depends on them, a known gap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python="$(bash scripts/python-env.sh .venv-python crates/refuel-python/tests/requirements.txt | tail -n1)"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "==> pip install ./crates/refuel-python (maturin, dev profile)" >&2
start=$(date +%s)
# The maturin backend runs the `maturin` of the venv (not isolated: found on PATH).
if ! PATH="$(dirname "$python"):$PATH" "$python" -m pip install --disable-pip-version-check --no-build-isolation --no-deps \
        --force-reinstall -v ./crates/refuel-python >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    echo "python-module: building refuel_datafusion failed" >&2
    exit 1
fi
echo "python-module: built and installed in $(( $(date +%s) - start )) s" >&2
# The module's build must reuse the workspace build's DataFusion and Arrow (the feature pins
# in crates/refuel-python/Cargo.toml): compiling them again costs ~17 minutes on a cold CI.
# Under CI that is a failure; elsewhere (a target dir that has not seen the workspace build
# of this commit) a warning.
if grep -E "^\s*Compiling (datafusion|arrow)[a-z-]* v" "$log" >&2; then
    msg="the module's build compiled the DataFusion/Arrow crates above once more: their unit hashes differ from the workspace build's (compare \`cargo tree -e features\` of the workspace and of -p refuel-python, then pin the differing features in crates/refuel-python/Cargo.toml)"
    if [[ "${CI:-}" == "true" ]]; then
        echo "python-module: error: $msg" >&2
        exit 1
    fi
    echo "python-module: warning: $msg" >&2
fi

if [[ "${1:-}" == "--build" ]]; then
    echo "$python"
    exit 0
fi

echo "==> pytest crates/refuel-python/tests" >&2
"$python" -m pytest crates/refuel-python/tests -q -p no:cacheprovider
