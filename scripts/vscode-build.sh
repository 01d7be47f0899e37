#!/usr/bin/env bash
# Build and unit-test the VS Code extension, package its .vsix and install code-server for the
# end-to-end tests (tests/e2e/test_vscode*.py, run by pytest afterwards).
#
# Usage: scripts/vscode-build.sh          (from anywhere; `make test-vscode` runs it)
#   1. npm ci (from package-lock.json; skipped while node_modules is newer than the lock file)
#   2. tsc build into vscode-extension/out/, then src/protocol.ts checked against
#      docs/protocol.schema.json (vscode-extension/scripts/check-protocol.js)
#   3. unit tests: node --test with a small `vscode` stub (test/), one of them against a real server
#   4. vscode-extension/otrace-vscode.vsix with @vscode/vsce 3.9.2
#   5. code-server 4.100.3, cached in ~/.cache/otrace-ci (scripts/vscode-install-code-server.sh)
# Exits non-zero at the first failing step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ext="$root/vscode-extension"
cd "$ext"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
        || [ package.json -nt node_modules/.package-lock.json ]; then
    echo "vscode: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
echo "vscode: build"
rm -rf out
npx tsc -p .
echo "vscode: protocol types against docs/protocol.schema.json"
node scripts/check-protocol.js
echo "vscode: unit tests"
OTRACE_PYTHON="${OTRACE_PYTHON:-$root/.venv/bin/python}" node --test --test-reporter=spec --require ./out/test/vscodeStub.js out/test/*.test.js
echo "vscode: package"
npx vsce package --skip-license -o otrace-vscode.vsix
echo "vscode: code-server"
"$root/scripts/vscode-install-code-server.sh" >/dev/null
echo "vscode: ready (the end-to-end tests run with pytest: tests/e2e/test_vscode*.py)"
