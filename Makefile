# The two commands: `make run` serves the console with demo data; `make test` runs the suite.
# Both set everything up first (virtualenv, pinned requirements, PostgreSQL, migrations).
SHELL := /bin/bash
PYTHON ?= python3
PY := .venv/bin/python
STAMP := .venv/.requirements-installed
# DATABASE_URL: the console's own role (owns nothing, reads and appends the log); DATABASE_OWNER_URL:
# the role that owns the schema, which `manage.py migrate` connects as (README, Database roles).
ENV := export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; prepared="$$($(PY) scripts/prepare_env.py --shell)"; eval "$$prepared";

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
	@set -e; $(ENV) $(PY) manage.py migrate --noinput -v0

run: setup pdflibs
	@# Checkpoints are witnessed outside the database (README, Integrity): var/witness unless set.
	@set -e; $(ENV) export AUDIT_WITNESS_DIR="$${AUDIT_WITNESS_DIR:-$(CURDIR)/var/witness}"; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	$(PY) manage.py bootstrap_demo; \
	exec $(PY) manage.py serve --host 127.0.0.1 --port 8000

test: setup pdflibs browser rsyslog
	@set -e; $(ENV) $(PY) -m pytest

bench: setup pdflibs browser
	@# The benchmarks make scratch databases of their own: they run as the owner role.
	@set -e; $(ENV) $(PY) manage.py migrate --noinput -v0; \
	export DATABASE_URL="$${DATABASE_OWNER_URL:-$$DATABASE_URL}"; unset DATABASE_OWNER_URL; $(PY) bench/run.py
