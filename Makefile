# A newcomer's commands. Each sets itself up: a virtualenv in .venv, created if missing.
#   make demo   two weeks of operation on the sandbox, then every runbook; notebooks + HTML in runs/<run id>/
#   make test   the test suite (what CI runs)
#   make lab    JupyterLab on notebooks/, with a sandbox running for it
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lab lint format sweep clean browser engines

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,sandbox,lab]"
	@touch $(STAMP)

install: $(STAMP)

# The demo's incident restore names its source (an incident restore never picks one itself).
DEMO_INCIDENT_SOURCE ?= arn:aws:dynamodb:eu-west-1:111111111111:table/orders

# DEMO_DAYS of operation on the sandbox (its clock moves a day, the day's scheduled runbooks
# run and are recorded), then every runbook once (runbook_sandbox/demo.py); it prints where
# the seconds went and the trends' points per series.
DEMO_DAYS ?= 14

# The demo estate has deliberate gaps, so its evidence is red: the final run exits 3 then
# (docs/evidence.md), which the demo counts as done; 1 (a notebook failed) fails it.
demo: install engines
	$(BIN)/python -m runbook_sandbox.demo --days $(DEMO_DAYS) --approve -p source_arn=$(DEMO_INCIDENT_SOURCE); \
	  status=$$?; [ $$status -eq 0 ] || [ $$status -eq 3 ]

test: install browser engines
	$(BIN)/ruff check runbook_lib runbook_sandbox tests bench
	$(BIN)/python -m pytest

# Headless Chromium (Debian's package) checks that the HTML reports render. Installed when
# missing and we are root; otherwise that one test says it was skipped and why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the HTML render test will be skipped"

# Real PostgreSQL and MariaDB (Debian's packages) behind the sandbox's RDS endpoints, and
# redis-server behind its ElastiCache Redis endpoints.
# Installed when missing and we are root; otherwise the database content tests say they
# were skipped and why.
engines:
	@{ ls /usr/lib/postgresql/*/bin/postgres && test -x /usr/sbin/mariadbd && command -v mariabackup && command -v redis-server ; } >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql mariadb-server mariadb-backup redis-server >/dev/null) ; } || \
	  echo "postgresql / mariadb / redis-server not installed: the database and cache content tests will be skipped, and the demo runs without them"

lab: install
	$(BIN)/runbook lab

sweep: install
	$(BIN)/runbook sweep --params sandbox

lint: install
	$(BIN)/ruff check runbook_lib runbook_sandbox tests bench
	$(BIN)/ruff format --check runbook_lib runbook_sandbox tests bench

format: install
	$(BIN)/ruff format runbook_lib runbook_sandbox tests bench

clean:
	rm -rf runs .pytest_cache
