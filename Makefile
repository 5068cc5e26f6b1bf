# Two entry points (see README): `make demo` runs the end-to-end story, `make test` the suite.
# Both create .venv and install the project with its test extras on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench man clean system-packages screenshots

# The browser tests (tests/browser), the desktop tests (tests/desktop) and the hotkey benchmark
# need Debian's Chromium (driven through Playwright's executable_path: never a browser
# download), an X server, its keymap tools and xdotool. As root, install what is missing; as
# anyone else do nothing (those tests then skip with one line, outside CI).
SYSTEM_PROGRAMS := chromium Xvfb setxkbmap xkbcomp xinput xdotool
SYSTEM_PACKAGES := chromium xvfb x11-xkb-utils xinput xdotool

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keybridge demo

system-packages:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do command -v $$p >/dev/null || missing=1; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $(SYSTEM_PACKAGES) \
		|| { apt-get update -q && apt-get install -y -q $(SYSTEM_PACKAGES); } \
		|| echo "could not install $(SYSTEM_PACKAGES): browser and desktop tests skip (fail under CI)"; \
	fi

test: $(STAMP) system-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The screenshots of docs/hes-web.md, taken by the browser tests as they go.
screenshots: $(STAMP) system-packages
	KEYBRIDGE_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q tests/browser

# The manual page, made from the commands' --help (commit it when a command changes).
man: $(STAMP)
	$(BIN)/keybridge man --output docs/keybridge.1

bench: $(STAMP) system-packages
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
