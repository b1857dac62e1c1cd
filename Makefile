# Two entry points: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/b24app demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser tests drive Debian's chromium (never a downloaded browser).
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

# The suite on SQLite; then, when B24_TEST_POSTGRES_URL names a PostgreSQL server (.ci/run
# starts one), the whole suite again on it, each test in a schema of its own.
test: lint /usr/bin/chromium
	B24_TEST_DATABASE=sqlite $(BIN)/pytest
	@if [ -n "$$B24_TEST_POSTGRES_URL" ]; then \
		echo "== the same suite on PostgreSQL"; \
		B24_TEST_DATABASE=postgresql $(BIN)/pytest; \
	fi

clean:
	rm -rf $(VENV) node_modules instance test-artifacts .pytest_cache .mypy_cache .ruff_cache
