#!/usr/bin/env bash
# Checks the layer contract in pyproject.toml ([tool.importlinter]) against the package as it
# installs: `pipeline/` and `components/` live at the repository root and only become
# `ml_lifecycle.pipeline` / `ml_lifecycle.components` through setup.py's package_dir, so the
# import graph is read from a throwaway install of this checkout (about a second), not the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV="$REPO/.venv"
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/ml-lifecycle-imports.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
# Built from a copy so setuptools' build/ and egg-info land in the stage, not the checkout;
# --no-build-isolation: the venv's setuptools builds it, offline.
mkdir "$STAGE/src"
cp -r setup.py pyproject.toml ml_lifecycle pipeline components "$STAGE/src/"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
    --no-build-isolation --target "$STAGE/site" "$STAGE/src" >/dev/null
cd "$STAGE/site"
PYTHONPATH="$STAGE/site" "$VENV/bin/lint-imports" --config "$REPO/pyproject.toml" --no-cache "$@"
