"""The emulated device's tax table (placeholder until the bit-mask encoding lands)."""

from __future__ import annotations

VALID_TAX_BYTES = frozenset(range(1, 11))
