# Quick start: `make demo`, `make test`. Connection settings are DataJoint's own
# (DJ_HOST, DJ_USER, DJ_PASS, DJ_PORT, DJ_BACKEND or datajoint.json); the
# defaults below reach a local MariaDB/MySQL as root with an empty password.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo_out
# the suite runs once per backend; `make test TEST_BACKENDS=mysql` for MySQL/MariaDB only. Tests that
# need no database (marked by tests/conftest.py) do not depend on the backend: when both run, the
# PostgreSQL pass runs only the database tests
TEST_BACKENDS ?= mysql postgresql
PG_USER ?= postgres

export DJ_HOST ?= 127.0.0.1
export DJ_USER ?= root
export DJ_PASS ?=

.PHONY: install demo lint test bench clean

$(BIN)/tectum: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,postgres,parquet,fast]"
	touch $@

install: $(BIN)/tectum

demo: install datajoint.json
	$(BIN)/tectum demo --out $(OUT)

# DataJoint's settings for this checkout, so `tectum` and the notebook work outside make too;
# never a password (`tectum config init --help`); an existing file is left alone
datajoint.json: | $(BIN)/tectum
	$(BIN)/tectum config init --host $(DJ_HOST) --user $(DJ_USER) $(if $(DJ_BACKEND),--backend $(DJ_BACKEND)) \
	  $(if $(DJ_PORT),--port $(DJ_PORT)) $(if $(DJ_PASS),,--empty-password)

# ruff's settings are in pyproject.toml; `ruff format .` and `ruff check --fix .` repair most findings
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	@set -e; for backend in $(TEST_BACKENDS); do \
	  echo "== test suite on $$backend"; \
	  if [ "$$backend" = postgresql ]; then \
	    DJ_BACKEND=postgresql DJ_USER=$(PG_USER) DJ_PORT=5432 $(BIN)/python -m pytest -q $(if $(filter mysql,$(TEST_BACKENDS)),-m db); \
	  else \
	    DJ_BACKEND=mysql $(BIN)/python -m pytest -q; \
	  fi; \
	done

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
