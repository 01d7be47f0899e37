#!/usr/bin/env bash
# The Emacs package's checks, as `make test-emacs` runs them (each failure fails the script):
#   1. byte-compile emacs/otrace*.el with warnings as errors
#   2. checkdoc: zero warnings (checkdoc-file exits 0 even with warnings, so they are counted here)
#   3. package-lint (Debian's elpa-package-lint), main file emacs/otrace.el
#   4. ERT (emacs/test/otrace-test.el, emacs/test/otrace-dap-test.el with dap-mode) against the real
#      demos, with emacs/test/otrace-schema-test.el checking every answer and notification Emacs
#      receives against docs/protocol.schema.json; fails unless the "Ran N tests" line says N > 0
#      (ERT exits 0 when no test ran); emacs/test/otrace-remote-test.el needs a real sshd: pytest's
#      tests/test_emacs_remote.py runs it (make test)
# Installs emacs-nox, elpa-package-lint and elpa-dap-mode (--no-install-recommends) when missing;
# Debian's elpa packages are put on load-path with -L (emacs -Q leaves site-lisp out).
# Variables: EMACS (default emacs), OTRACE_TEST_PYTHON (default $VENV/bin/python, VENV default .venv),
# ERT_SELECTOR (an ERT selector regexp, default: every test).
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh emacs-nox:emacs elpa-package-lint elpa-dap-mode || exit 1
EMACS=${EMACS:-emacs}
export OTRACE_TEST_PYTHON=${OTRACE_TEST_PYTHON:-$PWD/${VENV:-.venv}/bin/python}
FILES=(emacs/otrace.el emacs/otrace-fleet.el emacs/otrace-console.el emacs/otrace-holds.el emacs/otrace-source.el emacs/otrace-web.el
       emacs/otrace-remote.el
       emacs/otrace-files.el emacs/otrace-dap.el)
elpa_dirs=()
for dir in /usr/share/emacs/site-lisp/elpa/*/; do
    elpa_dirs+=(-L "$dir")
done
failed=()

echo "emacs: byte-compile (warnings are errors)"
rm -f emacs/*.elc
"$EMACS" --batch -Q -L emacs --eval '(setq byte-compile-error-on-warn t load-prefer-newer t)' \
    -f batch-byte-compile "${FILES[@]}" || failed+=(byte-compile)

echo "emacs: checkdoc"
warnings=0
for file in "${FILES[@]}"; do
    out=$("$EMACS" --batch -Q --eval "(checkdoc-file \"$file\")" 2>&1)
    n=$(grep -cE '\.el:[0-9]+: ' <<<"$out")
    [ "$n" -gt 0 ] && grep -E '\.el:[0-9]+: ' <<<"$out"
    warnings=$((warnings + n))
done
echo "emacs: checkdoc: $warnings warning(s)"
[ "$warnings" -eq 0 ] || failed+=(checkdoc)

echo "emacs: package-lint"
lint_dirs=()
for dir in /usr/share/emacs/site-lisp/elpa/package-lint-* /usr/share/emacs/site-lisp/elpa/let-alist-*; do
    [ -d "$dir" ] && lint_dirs+=(-L "$dir")
done
if [ ${#lint_dirs[@]} -eq 0 ]; then
    echo "emacs: package-lint is not installed (apt-get install elpa-package-lint)"
    failed+=(package-lint)
else
    (cd emacs && "$EMACS" --batch -Q "${lint_dirs[@]}" -L . --eval '(setq package-lint-main-file "otrace.el")' \
        -l package-lint -f package-lint-batch-and-exit "${FILES[@]#emacs/}") || failed+=(package-lint)
fi

echo "emacs: ERT (python: $OTRACE_TEST_PYTHON)"
log=$(mktemp)
"$EMACS" --batch -Q "${elpa_dirs[@]}" -L emacs --eval '(setq load-prefer-newer t)' -l emacs/test/otrace-test.el \
    -l emacs/test/otrace-dap-test.el -l emacs/test/otrace-files-test.el -l emacs/test/otrace-fleet-test.el \
    -l emacs/test/otrace-schema-test.el \
    --eval '(ert-run-tests-batch-and-exit (let ((s (getenv "ERT_SELECTOR"))) (if (member s (list nil "")) t s)))' \
    </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
ran=$(sed -nE 's/^Ran ([0-9]+) tests?,.*/\1/p' "$log" | tail -1)
rm -f "$log"
if [ "$status" -ne 0 ]; then
    failed+=(ert)
elif [ -z "$ran" ] || [ "$ran" -eq 0 ]; then
    echo "emacs: ERT ran no tests"
    failed+=(ert)
fi

rm -f emacs/*.elc
if [ ${#failed[@]} -gt 0 ]; then
    echo "emacs: FAILED: ${failed[*]}"
    exit 1
fi
echo "emacs: OK (byte-compile, checkdoc, package-lint, $ran ERT tests)"
