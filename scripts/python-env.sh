#!/usr/bin/env bash
# Creates (or reuses) the virtual environment of the Python SDK conformance suite.
#
#   bash scripts/python-env.sh                  # prints the venv's python on the last line
#   bash scripts/python-env.sh VENV REQUIREMENTS  # another venv (paths relative to the repo)
#
# The venv lives at <repo>/.venv-sdk (or VENV). tests/python/requirements.txt (or
# REQUIREMENTS) is installed into it
# unless a stamp file inside the venv records the same sha256 of that file. All pip output
# goes to stderr, so `PY=$(bash scripts/python-env.sh | tail -n1)` works.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/${1:-.venv-sdk}"
REQS="$REPO/${2:-tests/python/requirements.txt}"
STAMP="$VENV/.requirements.sha256"
PY="$VENV/bin/python"

if [[ ! -f "$REQS" ]]; then
    echo "python-env: missing $REQS" >&2
    exit 1
fi

if [[ ! -x "$PY" ]]; then
    echo "python-env: creating $VENV" >&2
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >&2; then
        # Some distributions ship python3 without ensurepip (Debian's python3-venv).
        # Fall back to virtualenv, installed from PyPI into a throwaway directory.
        echo "python-env: 'python3 -m venv' failed; falling back to virtualenv" >&2
        rm -rf "$VENV"
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        python3 -m pip install --disable-pip-version-check --quiet --target "$tmp" virtualenv >&2
        PYTHONPATH="$tmp" python3 -m virtualenv "$VENV" >&2
    fi
fi

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
have=""
if [[ -f "$STAMP" ]]; then
    have="$(cat "$STAMP")"
fi

if [[ "$want" != "$have" ]]; then
    echo "python-env: installing $REQS" >&2
    rm -f "$STAMP"
    "$PY" -m pip install --disable-pip-version-check --quiet --upgrade pip >&2
    "$PY" -m pip install --disable-pip-version-check -r "$REQS" >&2
    echo "$want" > "$STAMP"
else
    echo "python-env: $VENV is up to date" >&2
fi

echo "$PY"
