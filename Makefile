# Giftloop: `make run` for the demo on the embedded defaults, `make test` for the whole suite.
VENV    := .venv
PY      := $(VENV)/bin/python
PORTAL  := $(VENV)/bin/portal
PYTHON  ?= python3

.PHONY: setup run test test-fast package-check lock worker services chromium bench bench-quick screenshots clean

setup: $(VENV)/.installed static/vendor/.installed

# Python packages at the versions requirements.lock pins, so a release upstream cannot change a run.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# Re-resolve pyproject.toml's ranges to today's releases (uv, in a virtualenv of its own).
lock:
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet uv
	.lock-venv/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 --upgrade --quiet -o requirements.lock

# Front-end packages come from npm (package-lock.json) and are copied, never committed.
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/jsqr/dist/jsQR.js static/vendor/
	touch $@

# `make run PORT=5077` serves on another port; e-mail links follow it unless PORTAL_BASE_URL is set.
PORT ?= 5000
PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)
run: setup
	PORTAL_BASE_URL=$(PORTAL_BASE_URL) $(PORTAL) db upgrade
	PORTAL_BASE_URL=$(PORTAL_BASE_URL) $(PORTAL) demo
	PORTAL_BASE_URL=$(PORTAL_BASE_URL) $(PORTAL) run --host 127.0.0.1 --port $(PORT)

# The unit, browser and SQLite security tests in two processes (pytest-xdist; each has its own app,
# SQLite files, PostgreSQL database, Redis index and Chromium), then the tests marked serial by
# tests/conftest.py (the integration tier and the security tests on the real servers: worker
# processes, timed races and faults) one at a time, so no race shares the cores.
test: setup services chromium package-check
	$(PY) -m pytest -n 2 -m "not serial" tests/unit tests/browser tests/security
	$(PY) -m pytest -m serial tests/integration tests/security

# The inner loop: the unit tier alone.
test-fast: setup services
	$(PY) -m pytest -n 2 -q tests/unit

# The wheel on its own, in a clean virtualenv: the app factory and one burst of the worker.
package-check: static/vendor/.installed services
	PYTHON=$(PYTHON) scripts/check-package.sh

services:
	@scripts/ensure-services.sh

chromium:
	@scripts/ensure-chromium.sh

# The worker (jobs and their retries) and the cron scheduler (sweeps, outbox relay); Ctrl-C stops both.
worker: setup
	$(PORTAL) cron & trap 'kill $$! 2>/dev/null' EXIT; $(PORTAL) worker

# Figures 1-7 of issue 9 in one run (10 to 15 minutes on 2 cores), written to bench/RESULTS.md.
bench: setup services chromium
	@command -v wrk >/dev/null || scripts/ensure-package.sh wrk
	$(PY) -m bench.run

# The inner loop (about 2 minutes): figures 1-3 once, 5 s each, beside the bare ceilings; prints only.
bench-quick: setup services
	@command -v wrk >/dev/null || scripts/ensure-package.sh wrk
	$(PY) -m bench.run --quick --cards 500

# The README's screenshots (docs/screenshots/) of the main pages at 390 and 1280 px, on the demo data.
screenshots: setup chromium
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .lock-venv node_modules static/vendor .pytest_cache .hypothesis
