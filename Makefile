# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Django 6 needs Python >= 3.12: take the first interpreter that is new enough.
PYTHON_CANDIDATES := python3.13 python3.12 /root/.pyenv/versions/3.13*/bin/python3 \
	/root/.pyenv/versions/3.12*/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-postgres lint migrate seed bench soak screenshots clean

$(VENV)/.installed: pyproject.toml
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  for cand in $(PYTHON_CANDIDATES); do \
	    if $$cand -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	      echo "creating $(VENV) with $$cand"; $$cand -m venv $(VENV); break; fi; \
	  done; \
	fi; \
	test -x $(PY) || { echo "Python >= 3.12 is required"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The dev stack runs with DEBUG on (and Django's public dev key); without it the
# settings refuse to start unless DJANGO_SECRET_KEY is set. Override with DJANGO_DEBUG=0.
migrate seed run: export DJANGO_DEBUG ?= 1

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput -v0

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py run_all --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest -q -n 2

test-postgres: install
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test $(PY) -m pytest -q -n 2

# Figures, never asserted: engine on PostgreSQL + Redis + 2 worker processes,
# then the console's heaviest pages with a million instances.
bench: export DJANGO_SECRET_KEY ?= bench-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz
bench: install
	$(PY) bench/run.py $(if $(PEERS),--peers $(PEERS))
	$(PY) bench/console.py

# The nemesis soak: its own PostgreSQL (:5441) and Redis (:6406), 3 workers and a
# scheduler under random faults; exits non-zero when an invariant breaks.
# SOAK_ARGS="--short" (CI, ~3 min), "--long", "--instances N --duration S", "--help".
soak: install
	$(PY) -m soak.run $(SOAK_ARGS)

# Refresh the README's screenshots from the browser tests.
screenshots: install
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/console/test_browser.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* test-db*.sqlite3*
