# otrace-server: the two set-up commands of the README, plus their parts.
#
#   make demo   virtualenv + `pip install -e .`, then run demos/torna_trace.py with the embedded server
#   make test   virtualenv + `pip install -e .[test]` + Debian packages, then every test runner
#   make bench  every bench of bench/, 3 runs each, one table (goal, median, noise band, met?)
#
# Both reuse .venv while it is up to date (scripts/setup-venv.sh keys it on a hash of pyproject.toml).
# Variables: PYTHON (interpreter for a new venv), DEMO_ARGS, PYTEST_ARGS (e.g. a test file or -k expr).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export VENV

# Debian packages the tests need, as PACKAGE:COMMAND (installed only when COMMAND is missing) or
# PACKAGE (installed unless dpkg has it: openssh-server, whose sshd in /usr/sbin is not on every PATH).
DEB_TEST_NEEDS := chromium:chromium build-essential libkrb5-dev ripgrep:rg openssh-server

# Test runners that run BEFORE pytest, each a target below that exits non-zero on failure
# (e.g. test-node for `node --test`, test-emacs for Emacs ERT). pytest always runs last, so its
# summary line ends the output; `make test` fails if any runner failed.
TEST_RUNNERS := test-vscode

PYTEST_ARGS ?=

.PHONY: demo test bench venv venv-test deps-test test-python test-vscode

demo: venv
	$(PY) demos/torna_trace.py $(DEMO_ARGS)

test: deps-test venv-test
	@failed=""; \
	for runner in $(TEST_RUNNERS); do \
	    $(MAKE) --no-print-directory $$runner || failed="$$failed $$runner"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed (running pytest anyway)"; fi; \
	OTRACE_VSCODE_E2E=required $(MAKE) --no-print-directory test-python || failed="$$failed test-python"; \
	[ -z "$$failed" ]

# BENCH_ARGS: e.g. `--runs 5 overhead` or `--quick`; see bench/suite.py.
bench: venv-test
	$(PY) bench/suite.py $(BENCH_ARGS)

venv:
	@scripts/setup-venv.sh

venv-test:
	@scripts/setup-venv.sh test

deps-test:
	@scripts/setup-debian.sh $(DEB_TEST_NEEDS)

# The VS Code extension: npm ci, build, node unit tests, .vsix, code-server (cached in
# ~/.cache/otrace-ci); its end-to-end tests (tests/e2e/test_vscode*.py) then run with pytest.
test-vscode:
	@scripts/vscode-build.sh

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test-python:
	@$(PY) -m pytest -p no:cacheprovider --timeout=120 -q -rs $(PYTEST_ARGS) </dev/null; \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests"; exit 1; fi; \
	exit $$status

# Emacs package (emacs/): byte-compile with warnings as errors, checkdoc, package-lint, then ERT against
# the real demos (the script fails unless ERT's "Ran N tests" line has N > 0). Needs emacs-nox.
DEB_TEST_NEEDS += emacs-nox:emacs elpa-package-lint
TEST_RUNNERS += test-emacs
.PHONY: test-emacs
test-emacs:
	@scripts/emacs-test.sh

# The core and tracing tests under each newer Python found (python3.12/python3.13 on PATH; 3.13 is
# built once from Debian's source tarball into ~/.cache/otrace-ci): the sys.monitoring backend and
# the code swap's bytecode differ per version. OTRACE_NEWER_PYTHONS_BUILD=0 skips the build.
DEB_TEST_NEEDS += libssl-dev libffi-dev zlib1g-dev libsqlite3-dev libbz2-dev liblzma-dev libreadline-dev curl:curl
TEST_RUNNERS += test-newer-pythons
.PHONY: test-newer-pythons
test-newer-pythons:
	@scripts/newer-pythons.sh
