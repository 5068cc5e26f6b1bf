"""The reactor's two pollers (select.poll, and a selector where poll is missing) agree."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from firmware_sim.links.reactor import Reactor, _Poll, _Selector


@pytest.fixture(params=[_Poll, _Selector])
def poller(request: pytest.FixtureRequest) -> Iterator[_Poll | _Selector]:
    made = request.param()
    yield made
    made.close()


def test_readers_writers_and_hang_ups_are_reported(poller: _Poll | _Selector) -> None:
    r, w = os.pipe()
    try:
        poller.set(r, True, False)
        assert poller.wait(0) == []
        os.write(w, b"x")
        assert poller.wait(0) == [(r, True, False)]
        poller.set(w, False, True)
        assert sorted(poller.wait(0)) == sorted([(r, True, False), (w, False, True)])
        poller.set(w, False, False)
        poller.set(r, False, False)
        assert poller.wait(0) == []
        poller.set(r, True, False)
        os.read(r, 1)
        os.close(w)
        w = -1
        assert [event[:2] for event in poller.wait(0)] == [(r, True)]  # hang-up wakes the reader
        poller.set(r, False, False)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_reactor_runs_a_reader_and_a_timer() -> None:
    reactor = Reactor()
    r, w = os.pipe()
    seen: list[bytes] = []
    try:
        reactor.add_reader(r, lambda: seen.append(os.read(r, 10)))
        reactor.call_later(0.0, lambda: os.write(w, b"ping"))
        for _ in range(5):
            reactor.run_once(max_wait=0.5)
            if seen:
                break
        assert seen == [b"ping"]
        reactor.remove_reader(r)
    finally:
        reactor.close()
        os.close(r)
        os.close(w)
