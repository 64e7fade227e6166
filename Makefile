# geo_integration: the two commands of the README, and the checks CI runs.
#   make demo   install, get the reference data, make the demo drop, run it, open the map
#   make test   install (with dev tools) and run the whole test suite
# Variables: MIRROR=DIR (local copy of the reference data; default ../shared/data/bogota when
# present, else the data is downloaded), VENV=DIR (default .venv), RESIDENTS=N (demo size).

VENV ?= .venv
PY := $(VENV)/bin/python
GI := $(VENV)/bin/geo-integration
MIRROR ?= $(wildcard ../shared/data/bogota)
RESIDENTS ?= 20000
OUT ?= out
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint install assets browser

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed assets

# Map assets (Leaflet and plugins) from the npm registry, pinned and verified by sha512 in
# geo_integration/resources/assets.toml, into $GEO_INTEGRATION_ASSETS (default
# ~/.cache/geo_integration/assets). Never committed; the maps inline them.
assets: $(VENV)/.installed
	$(GI) assets fetch

demo: $(VENV)/.installed assets
	$(GI) data fetch $(if $(MIRROR),--from $(MIRROR))
	$(GI) data check --no-checksums
	$(GI) demo make demo_drop --residents $(RESIDENTS) --seed 1
	$(GI) run demo_drop --out $(OUT) --store store --site health --p 5
	@echo "Open the map: $(abspath $(OUT))/maps/overview.html"

# Debian's Chromium drives the browser tests of the maps; installed when missing and root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "chromium not installed: the browser tests will skip (they fail when CI=true)"

test: $(VENV)/.installed assets browser
	GEO_INTEGRATION_DATA=$${GEO_INTEGRATION_DATA:-$(MIRROR)} $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
