# Herald: `make run` serves the whole product, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/herald
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1

export DATABASE_URL REDIS_URL CELERY_BROKER_URL HOST PORT UPDATE_SCREENSHOTS

.PHONY: run test test-embedded venv venv-dev bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

# A development key for this checkout, made once (the settings refuse to run services mode
# with the fixed embedded-mode key).
.secret_key:
	@umask 077; $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# `make run` is the development start: DEBUG on and this checkout's key unless given.
# DEMO_SUPERUSER=1 also creates `admin` in services mode (embedded mode always does).
DEV_ENV = DEBUG="$${DEBUG:-true}" SECRET_KEY="$${SECRET_KEY:-$$(cat .secret_key)}"

# Embedded mode (no REDIS_URL): one process with daphne, Celery worker and beat.
# Services mode (REDIS_URL set): web, worker and beat as separate processes under honcho.
run: venv .secret_key
	$(DEV_ENV) $(PY) manage.py ensure_database
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py load_demo_data $(if $(DEMO_SUPERUSER),--superuser,)
	@export $(DEV_ENV); if [ -n "$(REDIS_URL)" ]; then \
	  echo "Services mode: Redis at $(REDIS_URL), database $${DATABASE_URL:-SQLite}"; \
	  exec $(VENV)/bin/honcho start -f Procfile; \
	else \
	  echo "Embedded mode: SQLite, in-process channel layer, Celery worker and beat"; \
	  exec $(PY) manage.py serve --host $(HOST) --port $(PORT); \
	fi

# The whole suite against PostgreSQL and Redis (overridable with DATABASE_URL / REDIS_URL), then
# the core suites again on the embedded configuration (SQLite, in-memory channel layer, local
# memory cache), since that is what `make run` serves with nothing configured. PYTEST_ARGS narrows
# the first pass and skips the second (`make test-embedded` runs it alone).
# pytest's exit 5 (no tests collected) fails too: the suite always has tests, so it means a
# mistyped PYTEST_ARGS or a collection slip.
EMBEDDED_SUITES := tests/pipeline tests/events tests/leaderboard tests/ui/test_views.py tests/realtime
EMBEDDED_MARKERS := not services and not browser and not chaos and not smoke
PYTEST_NONE_COLLECTED = if [ $$rc -eq 5 ]; then \
	  echo "make test: pytest collected no tests (check PYTEST_ARGS and collection errors above)" >&2; \
	fi

test: venv-dev
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(PY) tests/preflight.py
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  DATABASE_CONN_MAX_AGE=$${DATABASE_CONN_MAX_AGE:-0} $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  $(PYTEST_NONE_COLLECTED); \
	  if [ -z "$(PYTEST_ARGS)" ]; then \
	    $(MAKE) --no-print-directory test-embedded || rc=$$((rc ? rc : 1)); \
	  fi; exit $$rc

test-embedded: venv-dev
	@echo "Embedded configuration: SQLite, in-memory channel layer, local-memory cache"
	@env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u CHANNEL_LAYER_REDIS_URLS \
	  $(PY) -m pytest -p no:cacheprovider $(EMBEDDED_SUITES) -m "$(EMBEDDED_MARKERS)"; rc=$$?; \
	  $(PYTEST_NONE_COLLECTED); exit $$rc

bench: venv-dev
	@echo "See bench/README.md: each script prints its figures and the command that made them."

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
