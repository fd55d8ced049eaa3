"""One error root: every exception the daemon's own code defines descends from ``AdapterError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kkt_adapter
from kkt_adapter.errors import AdapterError

TEST_DOUBLES = ("kkt_adapter.emulator", "kkt_adapter.ofd.sim")  # share nothing with the daemon


def own_exceptions() -> list[type[BaseException]]:
    """The public exception classes defined in the package's modules (test doubles excluded)."""
    found = []
    for info in pkgutil.walk_packages(kkt_adapter.__path__, "kkt_adapter."):
        if info.name.startswith(TEST_DOUBLES) or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name and not name.startswith("_"):
                found.append(obj)
    return found


def test_every_own_exception_has_the_one_root() -> None:
    """No exception class of the daemon stands alone: ``except AdapterError`` catches each of them."""
    classes = own_exceptions()
    assert len(classes) > 10
    strays = [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, AdapterError)]
    assert not strays, strays
