"""Fixtures of the KKT tests: responders on real ptys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kkt_responder import Handler, PtyResponder, echo_ok


@pytest.fixture
def make_responder(tmp_path: Path) -> Iterator[Callable[[Handler], PtyResponder]]:
    """Start responders on real ptys (symlinked in tmp_path); stop them after the test."""
    started: list[PtyResponder] = []

    def make(handler: Handler = echo_ok) -> PtyResponder:
        responder = PtyResponder(handler, tmp_path / f"kkt{len(started)}")
        responder.start()
        started.append(responder)
        return responder

    yield make
    for responder in started:
        responder.stop()
