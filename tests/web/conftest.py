"""Fixtures of the web emulator's tests (in-process, through Starlette's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("starlette", reason="the HES web emulator needs keybridge[web]")

from web_helpers import Web, make_web


@pytest.fixture
def web() -> Iterator[Web]:
    made = make_web()
    with made.client:
        yield made
    made.hes.close()


@pytest.fixture
def strict_web() -> Iterator[Web]:
    made = make_web("strict")
    with made.client:
        yield made
    made.hes.close()
