"""The power-cut suite reuses the soak's system and checks (``tests/reliability``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
