#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the locked stack (idempotent; fast when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed-lock"

find_python310() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys' >/dev/null 2>&1; then
        command -v python3.10
        return
    fi
    # pyenv installs 3.10 but its shim refuses to run it unless selected.
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root=$(pyenv root)
        for candidate in "$root"/versions/3.10*/bin/python3.10; do
            if [ -x "$candidate" ]; then
                echo "$candidate"
                return
            fi
        done
    fi
    return 1
}

# The stamp records what was installed: the lock, setup.py (the editable packages) and this script.
WANT=$(cat requirements.lock setup.py "$0" | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    if ! PYTHON=$(find_python310); then
        echo "error: Python 3.10 is required (tfx 1.16 supports 3.9-3.10) but python3.10 is not on PATH." >&2
        echo "  Install it, e.g.: 'pyenv install 3.10.13', 'apt-get install python3.10 python3.10-venv'," >&2
        echo "  or 'uv python install 3.10', then rerun this command." >&2
        exit 1
    fi
    echo "setup: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

if [ ! -x "$VENV/bin/uv" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$(grep -E '^uv==' requirements.lock)"
fi

echo "setup: installing the locked stack into $VENV (first time takes about a minute)"
# --python pins the interpreter: uv must never try to download one (no internet here).
# --compile-bytecode: this environment sets PYTHONDONTWRITEBYTECODE, so without .pyc files every
# process would compile TensorFlow and TFX from source on import (about 10 s each time).
"$VENV/bin/uv" pip sync --compile-bytecode --python "$VENV/bin/python" requirements.lock
"$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps -e .
echo "$WANT" > "$STAMP"
echo "setup: done"
