# One obvious command for each job. A fresh machine needs only Python 3 and make.
#   make demo   - the main job: both ThreatMon packs against the local ThreatMon simulator
#   make test   - every check: lint, the whole pytest suite with coverage, validate, zip (both packs)
#   make bench  - the fetch (and feed) benchmarks
#   make bc     - (part of make test) demisto-sdk's backward-compatibility checks against the 1.x packs

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACKS  := Packs/ThreatMon Packs/ThreatMonThreatFeed
API_MODULES := Packs/ApiModules
BUILD  := build
ZIPS   := $(foreach pack,$(PACKS),$(BUILD)/uploadable_packs/$(notdir $(pack)).zip)
INTEGRATION_CODE := $(filter-out %_test.py,$(foreach pack,$(PACKS),$(wildcard $(pack)/Integrations/*/*.py)) \
	$(wildcard $(API_MODULES)/Scripts/*/*.py))
empty  :=
space  := $(empty) $(empty)
comma  := ,
# demisto-sdk takes the packs as one comma-separated list; ApiModules is validated, never zipped (its code is inlined)
PACK_LIST := $(subst $(space),$(comma),$(strip $(PACKS)))
SDK    := DEMISTO_SDK_IGNORE_CONTENT_WARNING=1 $(VENV)/bin/demisto-sdk

.PHONY: all demo test lint unit validate zip bc bench install install-runtime clean

all: test

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only: enough for the demo, installed in seconds.
$(VENV)/.runtime-installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The whole pinned development list (demisto-sdk, pytest, ruff, ...).
$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

install-runtime: $(VENV)/.runtime-installed
install: $(VENV)/.dev-installed

demo: $(VENV)/.runtime-installed
	$(PY) -m runner.demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: install
	$(PY) -m pytest --cov --cov-report=term-missing
	@for f in $(INTEGRATION_CODE); do \
		$(PY) -m coverage report --include="$$f" --fail-under=95 > /dev/null || { echo "coverage of $$f is under 95%"; exit 1; }; \
	done

validate: install
	$(SDK) validate -i $(PACK_LIST),$(API_MODULES) --config-path validation_config.toml

zip: install
	rm -rf $(BUILD)
	$(SDK) zip-packs -i $(PACK_LIST) -o $(BUILD)
	@for zip in $(ZIPS); do test -f $$zip || { echo "zip-packs did not produce $$zip"; exit 1; }; done
	@for zip in $(ZIPS); do echo "Uploadable pack: $$zip"; done

# demisto-sdk's BC checks (validate -g --prev-ver) against the 1.x packs, in a throwaway git repository:
# see tests/compat/README.md.
bc: install
	$(PY) tests/compat/bc_check.py

test: lint unit validate zip bc

bench: $(VENV)/.runtime-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache .coverage htmlcov
