"""A test whose prerequisite is missing: skipped on a developer's machine, a failure in CI.

``scripts/test`` (= ``.ci/run``, run with ``CI=true``) installs every prerequisite (Debian chromium, systemd,
prometheus for promtool, fuse3, libfuse3-3: README "Two commands") and runs as root; a test that cannot run
there must say so loudly, not pass by skipping.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``)."""
    return os.environ.get("CI") == "true"


def missing(what: str) -> None:
    """Skip (locally) or fail (under ``CI=true``) because ``what`` is not available here."""
    if in_ci():
        pytest.fail(f"prerequisite missing under CI=true: {what}")
    pytest.skip(what)
