# Ankommen: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install env migrate seed worker messages vendor e2e clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

## .env with development secrets and keys, written once, git-ignored.
.env: | $(STAMP)
	$(PY) -m coordination.devenv > .env
	@echo "wrote .env with fresh development keys"

env: .env

messages: $(STAMP)
	@if command -v msgfmt >/dev/null; then DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv >/dev/null; else echo "msgfmt not found: using the committed .mo files"; fi

migrate: .env messages
	DEBUG=1 $(PY) manage.py migrate --noinput

seed: migrate
	DEBUG=1 $(PY) manage.py seed_demo

## Web server on 127.0.0.1:8000 and a Celery worker with embedded beat; one Ctrl-C ends both.
run: seed
	@echo ""
	@echo "  Ankommen runs at http://127.0.0.1:8000/"
	@echo "  Demo logins (password 'demo'): coordinator, coordinator2, school, kita, management, admin"
	@echo "  admin also needs a second-factor code: $(PY) -m coordination.devotp admin"
	@echo "  (or add the secret printed by seed_demo above to an authenticator app)"
	@echo ""
	@trap 'kill 0' INT TERM EXIT; \
	DEBUG=1 $(VENV)/bin/celery -A coordination worker --beat --loglevel=INFO --concurrency=2 & \
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000; \
	wait

worker: .env
	DEBUG=1 $(VENV)/bin/celery -A coordination worker --beat --loglevel=INFO

test: $(STAMP) messages
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy coordination cases referrals offers monitoring demo transfer administration
	$(VENV)/bin/lint-imports
	$(PY) scripts/pip_audit.py

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

vendor:
	bash scripts/vendor_assets.sh

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
