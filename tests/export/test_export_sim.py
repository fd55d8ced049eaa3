"""The OFD simulator on a real loopback port: the contract, the checks, the fault switches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from kkt_adapter.export.build import build_document
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import Delivered, RetryLater
from kkt_adapter.export.sim.samples import sample_fiscalized
from kkt_adapter.export.sim.server import RunningSim, running_sim

TOKEN = "sim-token"


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSim]:
    with running_sim(tmp_path_factory.mktemp("sim") / "ofd.sqlite", token=TOKEN) as running:
        yield running


@pytest.fixture
def sim(shared_sim: RunningSim) -> RunningSim:
    shared_sim.control.reset()
    return shared_sim


@pytest.fixture
def http(sim: RunningSim) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=5.0) as client:
        yield client


def _doc(index: int = 0) -> ExportDocument:
    return build_document(sample_fiscalized(index))


def _post(http: httpx.Client, doc: ExportDocument | dict[str, object]) -> httpx.Response:
    body = doc.canonical_json() if isinstance(doc, ExportDocument) else json.dumps(doc)
    return http.post("/v1/documents", content=body)


def test_first_submit_is_accepted_and_a_repeat_returns_the_stored_ticket(sim: RunningSim, http: httpx.Client) -> None:
    """201 then 200 with the same ticket; stored once, counted twice."""
    first, second = _post(http, _doc()), _post(http, _doc())
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["ticket"] == second.json()["ticket"]
    listing = sim.control.documents()
    assert (listing["total"], listing["submissions"], listing["repeated"]) == (1, 2, 1)
    assert listing["documents"][0]["submit_count"] == 2


def test_same_id_with_other_content_is_a_conflict(sim: RunningSim, http: httpx.Client) -> None:
    """409 when an id already stored arrives with a different body; the stored one is kept."""
    _post(http, _doc())
    changed = _doc().model_copy(update={"shift_number": 9})
    assert _post(http, changed).status_code == 409
    assert sim.control.documents()["documents"][0]["submit_count"] == 1


def test_broken_arithmetic_is_rejected_with_the_field(http: httpx.Client) -> None:
    """422 names the field when Σ lines ≠ total."""
    body = json.loads(_doc().canonical_json())
    body["total_kop"] += 1
    response = _post(http, body)
    assert response.status_code == 422
    assert "total_kop" in {e["field"] for e in response.json()["errors"]}


def test_bad_fn_serial_and_fiscal_sign_are_rejected(http: httpx.Client) -> None:
    """FN serial must be 16 digits and the fiscal sign up to 10 digits."""
    body = json.loads(_doc().canonical_json())
    body.update(fn_serial="12345", fiscal_sign="12345678901", id="12345-1")
    fields = {e["field"] for e in _post(http, body).json()["errors"]}
    assert {"fn_serial", "fiscal_sign"} <= fields


def test_missing_token_is_401_and_wrong_token_is_403(sim: RunningSim) -> None:
    """Auth: no bearer → 401, other bearer → 403."""
    body = _doc().canonical_json()
    assert httpx.post(f"{sim.base_url}/v1/documents", content=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{sim.base_url}/v1/documents", content=body, headers=wrong).status_code == 403


def test_ticket_can_be_fetched_by_id(http: httpx.Client) -> None:
    """GET /v1/documents/{id} returns the stored ticket, 404 for an unknown id."""
    ticket = _post(http, _doc()).json()["ticket"]
    assert http.get(f"/v1/documents/{_doc().id}").json()["ticket"] == ticket
    assert http.get("/v1/documents/nope").status_code == 404


def test_down_refuse_closes_the_port_and_up_reopens_it(sim: RunningSim, http: httpx.Client) -> None:
    """In refuse mode connections are refused; after up the same port answers again."""
    sim.control.down("refuse")
    with pytest.raises(httpx.ConnectError):
        _post(http, _doc())
    sim.control.up()
    assert _post(http, _doc()).status_code == 201


def test_down_503_answers_with_retry_after(sim: RunningSim, http: httpx.Client) -> None:
    """In 503 mode every submit gets 503 with the configured Retry-After and nothing is stored."""
    sim.control.down("503", retry_after_s=4)
    response = _post(http, _doc())
    assert (response.status_code, response.headers["retry-after"]) == (503, "4")
    assert sim.control.documents()["total"] == 0


def test_reject_next_rejects_exactly_n_documents(sim: RunningSim, http: httpx.Client) -> None:
    """reject_next=2: two 422s, then acceptance."""
    sim.control.set_faults(reject_next=2)
    codes = [_post(http, _doc(i)).status_code for i in range(3)]
    assert codes == [422, 422, 201]


def test_rate_limit_answers_429_beyond_the_limit(sim: RunningSim, http: httpx.Client) -> None:
    """Beyond N requests in a second the simulator answers 429 with Retry-After."""
    sim.control.set_faults(rate_limit_per_s=2, rate_limit_retry_after_s=3)
    responses = [_post(http, _doc(i)) for i in range(6)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited
    assert limited[0].headers["retry-after"] == "3"


def test_flaky_fails_every_request_at_rate_one_sometimes_after_storing(sim: RunningSim, http: httpx.Client) -> None:
    """error_rate=1: every answer is 500, and some of the documents were stored before the failure."""
    sim.control.set_faults(error_rate=1.0)
    codes = {_post(http, _doc(i)).status_code for i in range(30)}
    assert codes == {500}
    assert 0 < sim.control.documents()["total"] < 30


def test_slow_mode_makes_a_short_read_timeout_expire_and_a_retry_gets_the_ticket(sim: RunningSim) -> None:
    """Latency beyond the client's read timeout → RetryLater; the OFD stored it anyway → a retry gets 200."""
    sim.control.set_faults(latency_ms=600)

    async def run() -> tuple[object, object]:
        config = ExportClientConfig(base_url=sim.base_url, token=TOKEN, connect_timeout_s=1, read_timeout_s=0.2)
        async with ExportClient(config) as client:
            first = await client.submit(_doc())
            sim_done = await asyncio.to_thread(_wait_stored, sim)
            assert sim_done
            patient = ExportClientConfig(base_url=sim.base_url, token=TOKEN, read_timeout_s=5)
            async with ExportClient(patient) as again:
                return first, await again.submit(_doc())

    first, second = asyncio.run(run())
    assert isinstance(first, RetryLater)
    assert "ReadTimeout" in first.reason
    assert isinstance(second, Delivered)
    assert second.status == 200


def _wait_stored(sim: RunningSim, timeout_s: float = 5.0) -> bool:
    """Poll the control API until one document is stored (bounded)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sim.control.documents()["total"] == 1:
            return True
        time.sleep(0.05)
    return False
