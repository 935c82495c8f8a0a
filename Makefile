# The two commands a fresh clone needs:
#   make serve   creates .venv, installs the server, starts one node with demo data
#   make test    creates .venv, installs the test extras, runs the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Editable installs in compat mode put the project folder on sys.path, so that PySpark finds the
# top-level pyspark_flightsql module (how it discovers data sources).
# flightsql-dbapi (a client we test against) installs a top-level package that is also
# named `flightsql`, so it lives in its own folder and runs in its own processes.
DBAPI_DIR := $(VENV)/flightsql-dbapi
PYTEST_ARGS ?=

.PHONY: serve test java proto clean

serve: $(VENV)/.installed
	$(VENV)/bin/spark-flight-sql serve --demo

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

java:
	@$(PYTHON) flightsql/java.py

$(VENV)/.created:
	@$(PYTHON) flightsql/java.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e ".[test,dev,bench]"
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(DBAPI_DIR) "flightsql-dbapi==0.2.2" "sqlalchemy>=1.4,<2"
	bash tests/ensure_slapd.sh
	touch $@ $(VENV)/.installed

# Regenerate the protobuf modules from flightsql/proto/*.proto.
proto: $(VENV)/.installed-test
	$(PY) -m flightsql.proto.generate

clean:
	rm -rf $(VENV) build *.egg-info
