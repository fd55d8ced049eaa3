"""Fixtures of the reliability tests."""

from ofd_system import emulator  # noqa: F401 -- a fixture, used by name
