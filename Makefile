# One obvious command for each job. A fresh machine needs only Python 3 and make.
#   make demo   - the main job: the ThreatMon pack against the local ThreatMon simulator
#   make test   - every check: lint, the whole pytest suite with coverage, validate, zip
#   make bench  - the fetch (and feed) benchmarks

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PACK   := Packs/ThreatMon
BUILD  := build
ZIP    := $(BUILD)/uploadable_packs/ThreatMon.zip
INTEGRATION_CODE := $(filter-out %_test.py,$(wildcard $(PACK)/Integrations/*/*.py))
SDK    := DEMISTO_SDK_IGNORE_CONTENT_WARNING=1 $(VENV)/bin/demisto-sdk

.PHONY: all demo test lint unit validate zip bench install install-runtime clean

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
	$(SDK) validate -i $(PACK) --config-path validation_config.toml

zip: install
	rm -rf $(BUILD)
	$(SDK) zip-packs -i $(PACK) -o $(BUILD)
	@test -f $(ZIP) || { echo "zip-packs did not produce $(ZIP)"; exit 1; }
	@echo "Uploadable pack: $(ZIP)"

test: lint unit validate zip

bench: $(VENV)/.runtime-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache .coverage htmlcov
