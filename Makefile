# The two commands: `make run` serves the console with demo data; `make test` runs the suite.
# Both set everything up first (virtualenv, pinned requirements, PostgreSQL, migrations).
SHELL := /bin/bash
PYTHON ?= python3
PY := .venv/bin/python
STAMP := .venv/.requirements-installed
ENV := export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; export DATABASE_URL="$$($(PY) scripts/prepare_env.py)";

.PHONY: run test bench setup browser pdflibs rsyslog migrate

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv .venv
	@# This machine's pip configuration warns about missing local indexes; only that noise is dropped.
	@set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 \
		| { grep -v '^WARNING: Location' || true; }
	@touch $@

setup: $(STAMP)

browser:
	@scripts/ensure-chromium

pdflibs:
	@scripts/ensure-pdf-libs

rsyslog:
	@scripts/ensure-rsyslog

migrate: setup
	@$(ENV) $(PY) manage.py migrate --noinput -v0

run: setup pdflibs
	@set -e; $(ENV) \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	$(PY) manage.py bootstrap_demo; \
	exec $(PY) manage.py serve --host 127.0.0.1 --port 8000

test: setup pdflibs browser rsyslog
	@set -e; $(ENV) $(PY) -m pytest

bench: setup pdflibs browser
	@set -e; $(ENV) $(PY) manage.py migrate --noinput -v0; $(PY) bench/run.py
