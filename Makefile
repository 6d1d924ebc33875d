# Quick start: `make demo`, `make test`. Connection settings are DataJoint's own
# (DJ_HOST, DJ_USER, DJ_PASS, DJ_PORT, DJ_BACKEND or datajoint.json); the
# defaults below reach a local MariaDB/MySQL as root with an empty password.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= demo_out

export DJ_HOST ?= 127.0.0.1
export DJ_USER ?= root
export DJ_PASS ?=

.PHONY: install demo test bench clean

$(BIN)/tectum: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,postgres,parquet,fast]"
	touch $@

install: $(BIN)/tectum

demo: install
	$(BIN)/tectum demo --out $(OUT)

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
