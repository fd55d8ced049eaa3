"""The ``/v1/admin/ofd`` routes' path parameters on a real uvicorn server: out-of-range values are 422."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_support import serve_api

from kkt_adapter.api import routes_ofd

ADMIN = "admin-secret"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
FN = "9999078900001234"
BAD = [
    (FN, "-99999999999999999999999999", "path.fd_number"),  # the fuzzer's case: once a 500 (SQLite's 64 bits)
    (FN, "0", "path.fd_number"),
    (FN, "4294967296", "path.fd_number"),
    ("123", "1", "path.fn_serial"),
    ("999907890000123x", "1", "path.fn_serial"),
]


@pytest.mark.parametrize("action", ["replay", "ack"])
@pytest.mark.parametrize(("fn_serial", "fd_number", "field"), BAD)
def test_an_out_of_range_fd_or_fn_serial_is_422_in_the_one_error_shape(
    tmp_path: Path, action: str, fn_serial: str, fd_number: str, field: str
) -> None:
    """An FD outside 1..4294967295 or an FN serial that is not 16 digits answers 422 ``validation_failed``
    naming the path parameter, never 500."""
    with serve_api(tmp_path, admin_token=ADMIN, extra_routers=[routes_ofd.router]) as api:
        answer = httpx.post(f"{api.base_url}/v1/admin/ofd/dlq/{fn_serial}/{fd_number}/{action}", headers=AUTH)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_failed"
    assert [detail["field"] for detail in body["details"]] == [field]


def test_an_fd_in_range_reaches_the_dlq_lookup(tmp_path: Path) -> None:
    """The largest 32-bit FD of a well-formed FN serial passes validation: 404, no such message."""
    with serve_api(tmp_path, admin_token=ADMIN, extra_routers=[routes_ofd.router]) as api:
        answer = httpx.post(f"{api.base_url}/v1/admin/ofd/dlq/{FN}/4294967295/ack", headers=AUTH)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found"
