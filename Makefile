# The two commands a newcomer needs (README): `make demo` and `make test`. Both do all set-up on a
# fresh machine: a Python venv with the project installed, and the Kafka jars from Maven Central.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup lock demo test lint docs promtool unit adapters integration e2e faults-long bench bench-quick down clean

# requirements/dev.lock pins every package of the test and CI environment (uv pip compile; see
# docs/tests.md), so CI installs the same versions every time.
$(STAMP): pyproject.toml requirements/dev.lock
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements/dev.lock -e '.[dev]'
	touch $(STAMP)

# After a change of dependencies in pyproject.toml: pin them again.
lock: setup
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements/dev.lock

setup: $(STAMP)
	bash ops/kafka/kafka.sh fetch

demo: setup
	$(BIN)/linguaflow demo

# The documentation site (mkdocs.yml, docs/): --strict fails on a broken link or heading anchor and
# on a page missing from the nav. `make lint`, and so `make test`, builds it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d .local/site

lint: setup docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# promtool (Prometheus's rule checker) checks and unit-tests the alert rules
# (ops/prometheus/alerts_test.yml). Built once per machine from the Go module proxy (~5 min).
PROMTOOL_VERSION := v0.316.0
PROMTOOL := $(HOME)/.cache/linguaflow/promtool-$(PROMTOOL_VERSION)/promtool
export LINGUAFLOW_PROMTOOL := $(PROMTOOL)

$(PROMTOOL):
	GOBIN=$(dir $(PROMTOOL)) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

promtool: $(PROMTOOL)

# pytest exits 5 when it collected no tests; that is not a failure of the code under test.
test: lint $(PROMTOOL)
	$(BIN)/pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

unit: setup $(PROMTOOL)
	$(BIN)/pytest -q tests/unit

adapters: setup
	$(BIN)/pytest -q tests/adapters

integration: setup
	$(BIN)/pytest -q tests/integration

e2e: setup
	$(BIN)/pytest -q tests/e2e

# The fault tests at full length (10 kills, a 2-minute database outage; every broker/Postgres outage
# of test_outages.py for 60 s and 300 s with the default client timeouts); CI runs the short versions.
faults-long: setup
	LINGUAFLOW_FAULTS_LONG=1 $(BIN)/pytest -q -s tests/integration/test_faults.py tests/integration/test_outages.py

# Benchmarks (docs/benchmarks.md): a private broker + Postgres, raw baselines and the pipeline in
# one run; the report goes to bench/out/<timestamp>/. BENCH_ARGS=--requests 200000 etc.
BENCH_ARGS ?=
bench: setup
	$(BIN)/python -m bench run $(BENCH_ARGS)

bench-quick: setup
	$(BIN)/python -m bench run --quick $(BENCH_ARGS)

down: setup
	$(BIN)/linguaflow down

clean:
	rm -rf $(VENV) .local ops/kafka/target
