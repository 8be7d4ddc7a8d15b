# Infusion Clinic. Two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
# One pytest process per core (pytest-xdist; its default `load` order keeps pytest-django's
# transactional tests last on every worker). `make test PYTEST_ARGS=` runs in one process.
PYTEST_ARGS ?= -n auto

.PHONY: install demo test test-fast serve worker lint format bench cluster cluster-stop clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_demo_schedule
	@echo "Mail is not sent in the demo: each message is written to var/mail/."
	@echo "Starting the background worker and the web server on http://127.0.0.1:$(PORT)/ (Ctrl-C stops both)"
	$(BIN)/python manage.py newsletter_resume
	@trap 'kill 0' EXIT INT TERM; \
	  $(BIN)/python manage.py db_worker --queue-name default --no-reload >var/worker.log 2>&1 & \
	  $(BIN)/python manage.py runserver --noreload 127.0.0.1:$(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py check --settings=config.settings.test
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(BIN)/pytest $(PYTEST_ARGS)

serve: install
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/python manage.py check --deploy --fail-level ERROR
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/python manage.py collectstatic --noinput
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/python manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=config.settings.production $(BIN)/gunicorn config.wsgi:application \
	  --bind 127.0.0.1:$(PORT) --workers $${WEB_CONCURRENCY:-3} --access-logfile -

worker: install
	$(BIN)/python manage.py newsletter_resume
	$(BIN)/python manage.py db_worker --queue-name default

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks (issue 13), never part of `make test`: the local PostgreSQL, the production server
# (gunicorn, WEB_CONCURRENCY workers) driven over HTTP. BENCH_SIZES=1000,100000 patients (each
# seeded once into ic_bench_<size>_seed, copied fresh per run), BENCH_REQUESTS per measurement;
# bench/README.md.
bench: install
	$(BIN)/python bench/run.py

# The multi-node layout on loopback (issue 20 section 1), never part of `make test`: the local
# PostgreSQL as primary, a streaming replica in var/cluster/replica, Redis, two gunicorn nodes
# behind nginx, two task workers. State and logs in var/cluster/; README "Running several nodes".
cluster: install
	BIN=$(abspath $(BIN)) deploy/cluster/up.sh

cluster-stop:
	deploy/cluster/down.sh

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache .ruff_cache
