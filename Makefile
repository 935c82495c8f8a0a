# The two commands a fresh clone needs:
#   make serve   creates .venv, installs the server, starts one node with demo data
#   make test    creates .venv, installs the test extras, runs the whole suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# An editable install in compat mode puts the project folder on sys.path (after site-packages), so
# that PySpark finds the top-level pyspark_flightsql module, which is how it discovers data
# sources; the other editable modes hide it behind an import hook that pkgutil does not list.
# flightsql-dbapi (a client we test against) is installed into the same environment, beside
# this project, without its dependencies: it pins SQLAlchemy below 2, which only its dialect
# needs, while sqlalchemy-adbc needs SQLAlchemy 2. Its dialect's test puts SQLAlchemy 1.4 from
# its own folder first on the path.
SQLALCHEMY14_DIR := $(VENV)/sqlalchemy14
PYTEST_ARGS ?=

.PHONY: serve test lint java proto clean

serve: $(VENV)/.installed
	$(VENV)/bin/spark-flight-sql serve --demo

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Lint, format and types (configured in pyproject.toml): part of `make test`.
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

java:
	@$(PYTHON) flightsql/devtools/java.py

$(VENV)/.created:
	@$(PYTHON) flightsql/devtools/java.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e ".[test,dev,bench]"
	$(PY) -m pip install --quiet --no-deps "flightsql-dbapi==0.2.2"
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(SQLALCHEMY14_DIR) "sqlalchemy>=1.4,<2"
	bash tests/ensure_slapd.sh
	touch $@ $(VENV)/.installed

# Regenerate the protobuf modules from flightsql/proto/*.proto.
proto: $(VENV)/.installed-test
	$(PY) -m spark_flight_sql.flightsql.proto.generate

clean:
	rm -rf $(VENV) build *.egg-info
