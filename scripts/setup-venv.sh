#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv and install otrace-server into it, editable.
#
# Usage: scripts/setup-venv.sh [EXTRA]      e.g. `scripts/setup-venv.sh test` installs .[test]
# Env:   VENV    virtualenv directory (default: .venv at the repository root)
#        PYTHON  interpreter to create it with (default: python3.11, else python3 if >= 3.11)
#
# The venv is reused while it is up to date: a stamp file inside it records the extra and a hash
# of pyproject.toml, setup.py and the C accelerator, so editing the dependencies or the C code (or
# asking for more extras) reinstalls (rebuilding the accelerator in place); a venv
# whose interpreter no longer runs or is older than 3.11 is recreated.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=${1:-}
venv=${VENV:-.venv}
# the stamp covers what pip builds from: the dependencies and the C accelerator
hash=$(cat pyproject.toml setup.py otrace_server/core/_stackwalk.c | sha256sum | cut -c1-16)
stamp="$venv/.otrace-installed-${extra:-base}-$hash"
is_311='import sys; sys.exit(sys.version_info < (3, 11))'

up_to_date() {
    [ -f "$stamp" ] && return 0
    # the base install is part of every extra's install
    [ -z "$extra" ] && compgen -G "$venv/.otrace-installed-*-$hash" >/dev/null
}

if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "$is_311" 2>/dev/null; then
    echo "setup-venv: $venv is broken or older than Python 3.11; recreating it"
    rm -rf "$venv"
fi
if [ -x "$venv/bin/python" ] && up_to_date; then
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    python=${PYTHON:-}
    if [ -z "$python" ]; then
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null && "$candidate" -c "$is_311"; then
                python=$candidate
                break
            fi
        done
    fi
    if [ -z "$python" ]; then
        echo "setup-venv: error: Python >= 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
        exit 1
    fi
    if ! "$python" -c 'import ensurepip' 2>/dev/null; then
        # Debian's python3 ships venv's pip bootstrap in a separate package.
        version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        scripts/setup-debian.sh "python$version-venv"
    fi
    echo "setup-venv: creating $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi

target=.
[ -n "$extra" ] && target=".[$extra]"
echo "setup-venv: installing -e '$target' into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e "$target"
rm -f "$venv"/.otrace-installed-"${extra:-base}"-*
touch "$stamp"
