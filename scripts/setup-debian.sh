#!/usr/bin/env bash
# Install the Debian packages the demo or the tests need, only those that are missing.
#
# Usage: scripts/setup-debian.sh PACKAGE[:COMMAND] ...
#   PACKAGE:COMMAND  installed unless COMMAND is on PATH     (e.g. chromium:chromium)
#   PACKAGE          installed unless dpkg reports it installed
#
# Runs apt-get as root, or through `sudo -n` when that works; `apt-get update` runs first only
# when apt does not know a wanted package yet. When apt-get cannot be used it prints what to
# install by hand and exits 1 under CI=true (CI must not go on without them), else 0 with a warning.
set -euo pipefail

missing=()
for spec in "$@"; do
    package=${spec%%:*}
    command=${spec#*:}
    if [ "$command" != "$spec" ]; then
        command -v "$command" >/dev/null && continue
    else
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' && continue
    fi
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

give_up() {
    echo "setup-debian: cannot install ${missing[*]}: $1." >&2
    echo "setup-debian: install them yourself: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    if [ "${CI:-}" = true ]; then exit 1; fi
    echo "setup-debian: continuing without them; the tests that need them will fail." >&2
    exit 0
}

command -v apt-get >/dev/null || give_up "apt-get is not available (not Debian?)"
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    give_up "not root and sudo needs a password"
fi

apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
update() { echo "setup-debian: apt-get update ($1)"; "${apt[@]}" update -qq; }
install() { echo "setup-debian: apt-get install ${missing[*]}"; "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"; }

updated=false
for package in "${missing[@]}"; do
    if ! apt-cache show "$package" >/dev/null 2>&1; then
        update "apt does not know $package yet"
        updated=true
        break
    fi
done
# stale package lists make downloads fail (404): refresh them once and retry
if ! install; then
    [ $updated = true ] && exit 1
    update "install failed; the package lists may be stale"
    install
fi
