#!/usr/bin/env bash
# Install code-server (a real VS Code workbench served to a browser) for the extension's e2e tests,
# cached between runs keyed by its version (../shared/EDITOR-TESTING.md explains the recipe).
#
# Usage: scripts/vscode-install-code-server.sh        prints the install folder on its last line
#   CODE_SERVER_VERSION (default 4.100.3: the newest whose engines.node accepts Node 20)
#   OTRACE_CI_CACHE     (default ~/.cache/otrace-ci)
# Needs the Debian packages build-essential libkrb5-dev ripgrep (scripts/setup-debian.sh installs
# them) and network access to the npm registry on the first run only.
set -euo pipefail

version=${CODE_SERVER_VERSION:-4.100.3}
cache=${OTRACE_CI_CACHE:-$HOME/.cache/otrace-ci}
dest="$cache/code-server-$version"

if [ -f "$dest/.complete" ] && node "$dest/out/node/entry.js" --version >/dev/null 2>&1; then
    echo "$dest"
    exit 0
fi

command -v rg >/dev/null || { echo "vscode-install: ripgrep (rg) is missing" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/.install-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "vscode-install: installing code-server $version into $dest (about a minute)" >&2
npm pack --silent "code-server@$version" >/dev/null
tar xzf "code-server-$version.tgz"
cd package
# @vscode/ripgrep's postinstall downloads rg from the internet: pre-fill its cache with Debian's rg.
rgv=$(node -p 'require("./lib/vscode/npm-shrinkwrap.json").packages["node_modules/@vscode/ripgrep"].version')
rgc="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$rgv"
mkdir -p "$rgc"
tar czf "$rgc/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
npm_config_nodedir=/usr npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --omit=dev --no-audit --no-fund --loglevel=error >&2
node out/node/entry.js --version >&2
touch .complete
cd "$work"
rm -rf "$dest"
mv package "$dest"
echo "$dest"
