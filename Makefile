# The two commands a fresh clone needs:
#   make serve   creates .venv, installs the server, starts one node with demo data
#   make test    creates .venv, installs the test extras and the npm test clients, runs the whole suite
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

# Flight SQL clients from the npm registry that tests run through `node` (tests/test_relay.py), at the
# versions tests/clients/package-lock.json pins, into tests/clients/node_modules (git-ignored). Without
# node and npm this says so, and those tests are skipped.
CLIENTS := tests/clients

# The Arrow Flight SQL JDBC driver (tests/test_jdbc.py), pinned, fetched by Maven into tests/clients/jdbc/lib
# (git-ignored) once, and the test's probe compiled beside it. Without java and mvn this says so, and those
# tests are skipped.
JDBC_VERSION := 18.3.0
JDBC_DRIVER := $(CLIENTS)/jdbc/lib/flight-sql-jdbc-driver-$(JDBC_VERSION).jar

# arrow-go's Flight SQL client (tests/test_go_client.py): a small program built into tests/clients/go/bin
# (git-ignored) at the module versions tests/clients/go/go.sum pins. Without go this says so, and those
# tests are skipped.
GO_CLIENT := $(CLIENTS)/go/bin/flightsql-probe

.PHONY: serve test lint clients jdbc go-client java proto clean

serve: $(VENV)/.installed
	$(VENV)/bin/spark-flight-sql serve --demo

test: lint clients jdbc go-client
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clients:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory $(CLIENTS)/node_modules/.package-lock.json; \
	else \
		echo "node or npm not found: the tests that run npm clients will be skipped"; \
	fi

jdbc:
	@if command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null; then \
		$(MAKE) --no-print-directory $(CLIENTS)/jdbc/classes/JdbcProbe.class; \
	else \
		echo "java, javac or mvn not found: the JDBC driver's tests will be skipped"; \
	fi

go-client:
	@if command -v go >/dev/null; then \
		$(MAKE) --no-print-directory $(GO_CLIENT); \
	else \
		echo "go not found: the Go client's tests will be skipped"; \
	fi

$(GO_CLIENT): $(CLIENTS)/go/main.go $(CLIENTS)/go/go.mod $(CLIENTS)/go/go.sum
	cd $(CLIENTS)/go && go build -o bin/flightsql-probe .

$(JDBC_DRIVER):
	mvn -q dependency:copy -Dartifact=org.apache.arrow:flight-sql-jdbc-driver:$(JDBC_VERSION) -DoutputDirectory=$(@D)

$(CLIENTS)/jdbc/classes/JdbcProbe.class: $(CLIENTS)/jdbc/JdbcProbe.java $(JDBC_DRIVER)
	javac -d $(@D) -cp $(JDBC_DRIVER) $<

# npm install --no-save, not npm ci: the locked versions, and the lock left as it is. npm ci refuses this
# lock because one of the client's optional platform packages (freebsd-x64 0.0.10) was never published.
$(CLIENTS)/node_modules/.package-lock.json: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	npm install --prefix $(CLIENTS) --no-save --no-audit --no-fund

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
	rm -rf $(VENV) build *.egg-info $(CLIENTS)/node_modules $(CLIENTS)/jdbc/lib $(CLIENTS)/jdbc/classes
