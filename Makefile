# Two entry points (see README): `make demo` runs the end-to-end story, `make test` the suite.
# Both create .venv and install the project with its test extras on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean desktop-packages

# The desktop tests (tests/desktop) and the hotkey benchmark need an X server, its keymap
# tools, a browser and xdotool: Debian packages, installed when run as root and missing.
DESKTOP_PROGRAMS := Xvfb setxkbmap xinput chromium xdotool
DESKTOP_PACKAGES := xvfb x11-xkb-utils xinput chromium xdotool

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/keybridge demo

desktop-packages:
	@missing=""; for p in $(DESKTOP_PROGRAMS); do command -v $$p >/dev/null || missing=1; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $(DESKTOP_PACKAGES); \
	fi

test: $(STAMP) desktop-packages
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

bench: $(STAMP) desktop-packages
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
