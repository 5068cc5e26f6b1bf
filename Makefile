# Two entry points (see README): `make demo` runs the end-to-end story, `make test` the suite.
# Both create .venv and install the project with its test extras on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench man clean browser-deps screenshots

# The browser tests drive Debian's Chromium through Playwright's executable_path (never a
# browser download). As root, install it when it is missing, with Xvfb and xkbcomp for tests
# that need a display; as anyone else do nothing (the browser tests then skip, outside CI).
BROWSER_PACKAGES := chromium xvfb x11-xkb-utils

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keybridge demo

browser-deps:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $(BROWSER_PACKAGES) \
		|| { apt-get update -q && apt-get install -y -q $(BROWSER_PACKAGES); } \
		|| echo "could not install $(BROWSER_PACKAGES): the browser tests will skip (fail under CI)"; \
	fi

test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The screenshots of docs/hes-web.md, taken by the browser tests as they go.
screenshots: $(STAMP) browser-deps
	KEYBRIDGE_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q tests/browser

# The manual page, made from the commands' --help (commit it when a command changes).
man: $(STAMP)
	$(BIN)/keybridge man --output docs/keybridge.1

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
