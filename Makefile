# One obvious command for each job. A fresh machine needs only Python 3.11 or newer and make.
#   make demo   - the main job: both ThreatMon packs against the local ThreatMon simulator
#   make test   - every check: lint, the whole pytest suite with coverage, validate, zip (both packs)
#   make bench  - the fetch (and feed) benchmarks
#   make bc     - (part of make test) demisto-sdk's backward-compatibility and release-notes checks against the 1.x packs
#   make upstream-check - (part of make test) the three pack folders alone, as demisto/content's CI runs them
#   make upstream CONTENT=<content checkout> - write the pull request to demisto/content into that checkout
# tox and pre-commit call these targets (tox with VENV= its own venv); nothing here is repeated there.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACKS  := Packs/ThreatMon Packs/ThreatMonThreatFeed
API_MODULES := Packs/ApiModules
BUILD  := build
# Each pack's zip for Cortex XSOAR in uploadable_packs/, and for Cortex XSIAM and the Cortex platform in a folder each
ZIPS   := $(subst /./,/,$(foreach folder,. marketplacev2 platform,$(foreach pack,$(PACKS),$(BUILD)/uploadable_packs/$(folder)/$(notdir $(pack)).zip)))
empty  :=
space  := $(empty) $(empty)
comma  := ,
# demisto-sdk takes the packs as one comma-separated list; ApiModules is validated, never zipped (its code is inlined)
PACK_LIST := $(subst $(space),$(comma),$(strip $(PACKS)))
# demisto-sdk, its output passed through tools/sdk_summary.py (which drops validate's red summary when it lists no error)
SDK    := DEMISTO_SDK_IGNORE_CONTENT_WARNING=1 $(PY) tools/sdk_summary.py $(VENV)/bin/demisto-sdk

.PHONY: all demo test lint unit validate zip bc bench install install-runtime clean playbook-images secrets mypy xsoar-lint upstream-check upstream

all: test

# Every target that needs .venv builds it through the rules below. They check the Python first and say in
# one sentence what to install (no traceback on 3.10, no pip error on 3.9), and a failed build or install
# removes .venv, so no half-built venv is left and the stamp files (.runtime-installed, .dev-installed)
# only ever mark a finished install. The check is Python 2 syntax too, so any `python` can run it.
GOAL := $(or $(MAKECMDGOALS),test)
PYTHON_CHECK = 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "make: Python 3.11 or newer is needed; $(1) is %d.%d.%d. $(2)" % tuple(v[:3]))'
INSTALL_FAILED = { rm -rf $(VENV); echo "make: $(1) failed (see above); .venv was removed, so nothing half-built is left: fix that and run \`make $(GOAL)\` again." >&2; exit 1; }

$(PY):
	@command -v $(PYTHON) > /dev/null 2>&1 || { echo "make: $(PYTHON) was not found; install Python 3.11 or newer and run \`make PYTHON=python3.11 $(GOAL)\`." >&2; exit 1; }
	@$(PYTHON) -c $(call PYTHON_CHECK,$(PYTHON),Install 3.11+ and run `make PYTHON=python3.11 $(GOAL)`.)
	@rm -rf $(VENV)
	@echo "$(PYTHON) -m venv $(VENV)"
	@$(PYTHON) -m venv $(VENV) || $(call INSTALL_FAILED,creating the venv ($(PYTHON) -m venv; on Debian and Ubuntu it needs the python3-venv package))

# Runtime dependencies only: enough for the demo, installed in seconds.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	@$(PY) -c $(call PYTHON_CHECK,$(PY),Remove .venv and run `make PYTHON=python3.11 $(GOAL)`.)
	@echo "$(PY) -m pip install -r requirements.txt"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt || $(call INSTALL_FAILED,installing requirements.txt)
	touch $@

# The whole pinned development list (demisto-sdk, pytest, ruff, ...).
$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(PY)
	@$(PY) -c $(call PYTHON_CHECK,$(PY),Remove .venv and run `make PYTHON=python3.11 $(GOAL)`.)
	@echo "$(PY) -m pip install -r requirements-dev.txt"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt || $(call INSTALL_FAILED,installing requirements-dev.txt)
	touch $(VENV)/.runtime-installed $@

install-runtime: $(VENV)/.runtime-installed
install: $(VENV)/.dev-installed

# Both first check XSOAR_RUNTIME_DIR (one sentence when it does not name the official files), as pytest does.
demo: $(VENV)/.runtime-installed
	@$(PY) -m runner.runtime
	$(PY) -m runner.demo

# FILES=...: lint, mypy, xsoar-lint and secrets check only those of their files that are given (pre-commit gives
# the staged ones; a check given none of its files does nothing). Empty (the default): every file.
FILES ?=
LINT_PATHS = $(if $(strip $(FILES)),$(filter %.py %.pyi,$(FILES)),.)

lint: install
	$(if $(LINT_PATHS),$(VENV)/bin/ruff check --force-exclude $(LINT_PATHS),@echo "lint: no Python file given")
	$(if $(LINT_PATHS),$(VENV)/bin/ruff format --check --force-exclude $(LINT_PATHS),@:)

unit: install
	$(PY) -m pytest --cov --cov-report=term-missing
	@$(PY) tools/coverage_floor.py 95

# mypy with demisto/content's settings ([tool.mypy] in pyproject.toml, Python 3.12) and demisto-sdk xsoar-lint
# (content's pylint rules; any message fails) on every integration and API module; the official runtime files go
# first on mypy's path when XSOAR_RUNTIME_DIR names them. tools/code_checks.py holds the file lists.
mypy: install
	$(PY) tools/code_checks.py mypy $(FILES)

xsoar-lint: install
	$(PY) tools/code_checks.py xsoar-lint $(FILES)

validate: install
	$(SDK) validate -i $(PACK_LIST),$(API_MODULES) --config-path validation_config.toml

# Each pack prepared for each marketplace it ships to (demisto-sdk prepare-content -mp xsoar/marketplacev2/platform,
# which resolves the marketplace-only keys such as closeReason:marketplacev2): see tools/build_zips.py.
# Each target owns its folder under build/: zip build/uploadable_packs/ (and its staging folder), bench build/bench/.
zip: install
	rm -rf $(BUILD)/uploadable_packs $(BUILD)/prepare-content
	DEMISTO_SDK_IGNORE_CONTENT_WARNING=1 $(PY) tools/build_zips.py -o $(BUILD) $(PACKS)
	@for zip in $(ZIPS); do test -f $$zip || { echo "make zip did not produce $$zip"; exit 1; }; done

# demisto-sdk's BC checks (validate -g --prev-ver) against the 1.x packs, in a throwaway git repository, with its
# release-notes checks that run only on such a git diff (RN111 docker line, RN113-RN116 headers, ...):
# see tests/compat/README.md.
bc: install
	$(PY) tests/compat/bc_check.py

test: lint mypy xsoar-lint unit validate secrets zip bc upstream-check

# The three pack folders alone (what a pull request to demisto/content carries), through what content's CI does with
# them: validate-content-path, demisto-sdk prepare-content, and pytest inside each code folder with content's
# conftest, only content's libraries and at least 90% coverage. CONTENT_CONFTEST names content's own conftest.py
# (else the repository's, tools/upstream_conftest.py); XSOAR_RUNTIME_DIR the official runtime files (else the
# stand-ins). See tools/upstream_check.py.
upstream-check: install
	$(PY) tools/upstream_check.py

# The pull request itself, written into a checkout of demisto/content (nothing committed): make upstream CONTENT=../content
upstream: install-runtime
	@test -n "$(CONTENT)" || { echo "make upstream: name a demisto/content checkout: make upstream CONTENT=/path/to/content" >&2; exit 1; }
	$(PY) tools/upstream.py "$(CONTENT)"

# demisto-sdk's secrets check on every text file of the packs, with content's pre-commit settings (regexes for
# IPs, URLs, e-mail addresses and hashes; no entropy guess). Example values live in each pack's .secrets-ignore.
secrets: install
	$(PY) tools/code_checks.py secrets $(FILES)

# Each playbook's image (Packs/<pack>/doc_files/<playbook>.png), drawn from its yml; a test fails when one is stale.
playbook-images: install
	$(PY) tools/playbook_image.py

bench: $(VENV)/.runtime-installed
	@$(PY) -m runner.runtime
	$(PY) -m benchmarks --out $(BUILD)/bench

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache .coverage htmlcov
