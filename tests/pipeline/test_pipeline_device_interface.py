"""The pipeline knows a device only through ``KktDevice``: no family's driver, link or codec."""

from __future__ import annotations

import ast
from pathlib import Path

import kkt_adapter.pipeline

NEUTRAL = {"kkt_adapter.kkt.device", "kkt_adapter.kkt.types", "kkt_adapter.kkt.errors"}
PIPELINE = Path(kkt_adapter.pipeline.__file__).parent


def kkt_imports(path: Path) -> set[str]:
    """The ``kkt_adapter.kkt…`` modules a source file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kkt_adapter.kkt"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kkt_adapter.kkt"))
    return found


def test_pipeline_imports_only_the_family_neutral_device_modules() -> None:
    """Every pipeline module imports from ``kkt_adapter.kkt`` only the interface, its types and its errors."""
    offending = {
        f"{path.name}: {module}"
        for path in sorted(PIPELINE.glob("*.py"))
        for module in kkt_imports(path) - NEUTRAL
        if path.name != "ticket_relay.py"  # the own-dialect relay the FN relay replaces (issue 10)
    }
    assert not offending, offending


def test_neutral_modules_import_no_family_code() -> None:
    """The interface, its types and its errors import nothing of a device family (ATOL needs no Shtrih code)."""
    root = PIPELINE.parent / "kkt"
    for name in ("device.py", "types.py", "errors.py"):
        assert kkt_imports(root / name) <= NEUTRAL, name
