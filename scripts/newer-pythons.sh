#!/usr/bin/env bash
# Run the core and tracing tests under each newer Python the machine has (3.12, 3.13): the
# sys.monitoring backend (otrace_server/core/monitoring.py) exists only there, and the wrapper
# code swapped into functions (core/codeswap.py) is rewritten bytecode, which differs per version.
#
# Usage: scripts/newer-pythons.sh          (from anywhere; `make test-newer-pythons` runs it)
#   1. Python 3.13 (no Debian bookworm suite has it): built from Debian trixie's source tarball of
#      CPython (md5-checked) into a cache keyed by its version, $OTRACE_CI_CACHE/python-3.13.5
#      (default ~/.cache/otrace-ci; ./configure && make && make altinstall, a few minutes once);
#      Python 3.12 has no Debian source we can reach: a python3.12 found on PATH (or installed by
#      pyenv) is used. For 3.13 the build comes first (what CI has), then PATH and pyenv.
#   2. for each interpreter: a venv .venv-3.X (scripts/setup-venv.sh, keyed on pyproject.toml)
#      with otrace-server installed editable plus the test tools of NEWER_PYTHON_TEST_TOOLS;
#   3. the tests of TESTS below under it. A missing interpreter is said plainly, not a failure.
# Env:  OTRACE_NEWER_PYTHONS_BUILD=0   do not build 3.13 (the cache, PATH and pyenv only: quick runs)
#       OTRACE_CI_CACHE                 the build cache (default ~/.cache/otrace-ci)
#       NEWER_PYTHONS_PYTEST_ARGS       extra pytest arguments (e.g. -x, -k expr)
# Needs (first build only): build-essential and the -dev packages of DEB_TEST_NEEDS (Makefile),
# and network access to deb.debian.org when the tarball is not in /tmp.
# Exits non-zero when a build or a test run failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

version=3.13.5
tarball=python3.13_$version.orig.tar.xz
url=http://deb.debian.org/debian/pool/main/p/python3.13/$tarball
md5=dbaa8833aa736eddbb18a6a6ae0c10fa
cache=${OTRACE_CI_CACHE:-$HOME/.cache/otrace-ci}
prefix="$cache/python-$version"
# the core, the tracer and its wrappers/code swap/monitoring backend, holds through Tornado, the
# shell's tracing commands (not the editor end-to-end tests: they need the full test extra)
TESTS=(tests/core tests/tornado_holds tests/shell/test_tracing_and_code.py tests/shell/test_trace_routers.py
       tests/test_layering.py)
NEWER_PYTHON_TEST_TOOLS=("pytest>=8" pytest-timeout hypothesis)

say() { echo "newer-pythons: $*"; }

build_313() {
    # prints the built interpreter on its last line, or nothing when it cannot be built
    if [ -f "$prefix/.complete" ] && "$prefix/bin/python3.13" -c 'import ssl, sqlite3, ctypes' 2>/dev/null; then
        echo "$prefix/bin/python3.13"
        return
    fi
    if [ "${OTRACE_NEWER_PYTHONS_BUILD:-1}" = 0 ]; then
        say "OTRACE_NEWER_PYTHONS_BUILD=0: not building Python $version" >&2
        return
    fi
    mkdir -p "$cache"
    local source="${TMPDIR:-/tmp}/$tarball"
    if [ ! -f "$source" ] || ! echo "$md5  $source" | md5sum -c --quiet - 2>/dev/null; then
        say "downloading $url" >&2
        curl -fsSL -o "$source.part" "$url"
        mv "$source.part" "$source"
    fi
    echo "$md5  $source" | md5sum -c --quiet - || { say "md5 mismatch: $source" >&2; return 1; }
    local work
    work=$(mktemp -d "$cache/.build-python-XXXXXX")
    say "building Python $version into $prefix (a few minutes; log: $work/build.log)" >&2
    rm -rf "$prefix"
    if ! (tar xJf "$source" -C "$work" && cd "$work/Python-$version" \
            && ./configure --prefix="$prefix" && make -j2 && make altinstall) >"$work/build.log" 2>&1; then
        tail -30 "$work/build.log" >&2
        say "building Python $version failed (log kept: $work/build.log)" >&2
        return 1
    fi
    touch "$prefix/.complete"
    rm -rf "$work"
    echo "$prefix/bin/python3.13"
}

runs() { [ -n "$1" ] && "$1" -c 'import sys, venv' >/dev/null 2>&1; }

found() {
    # a working python3.$1 on PATH (a pyenv shim of a version not selected does not run), else
    # the newest of pyenv's installed 3.$1.x
    local python
    python=$(command -v "python3.$1" || true)
    if runs "$python"; then echo "$python"; return; fi
    for python in $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3."$1".*/bin/python3."$1" \
                    2>/dev/null | sort -V -r); do
        if runs "$python"; then echo "$python"; return; fi
    done
}

interpreters=()
failed=""
for minor in 12 13; do
    python=""
    if [ $minor = 13 ]; then   # the Debian build first: what CI tests
        python=$(build_313) || failed="$failed build-3.13"
        python=$(echo "$python" | tail -1)
    fi
    runs "$python" || python=$(found $minor)
    if [ -z "$python" ]; then
        if [ $minor = 12 ]; then
            say "python3.12: not found on this machine (Debian bookworm has none; its tests are skipped)"
        else
            say "python3.13: not found on this machine and not built (its tests are skipped)"
        fi
        continue
    fi
    interpreters+=("3.$minor:$python")
done

for entry in "${interpreters[@]}"; do
    minor=${entry%%:*}
    python=${entry#*:}
    venv=".venv-$minor"
    say "python$minor: $python ($("$python" --version 2>&1))"
    if ! VENV="$venv" PYTHON="$python" scripts/setup-venv.sh; then
        failed="$failed venv-$minor"
        continue
    fi
    tools_stamp="$venv/.otrace-test-tools-$(echo "${NEWER_PYTHON_TEST_TOOLS[*]}" | sha256sum | cut -c1-16)"
    if [ ! -f "$tools_stamp" ]; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${NEWER_PYTHON_TEST_TOOLS[@]}"
        touch "$tools_stamp"
    fi
    say "python$minor: ${TESTS[*]}"
    # shellcheck disable=SC2086
    if ! "$venv/bin/python" -m pytest -p no:cacheprovider --timeout=120 -q -rs ${NEWER_PYTHONS_PYTEST_ARGS:-} \
            "${TESTS[@]}" </dev/null; then
        failed="$failed tests-$minor"
    fi
done

if [ -n "$failed" ]; then
    say "FAILED:$failed"
    exit 1
fi
say "done (${#interpreters[@]} newer interpreter(s) tested)"
