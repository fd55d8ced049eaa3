"""Schemathesis against the real daemon's own OpenAPI schema: no 5xx, every answer matches the schema.

The daemon is a ``kkt-adapter run`` subprocess on 127.0.0.1 (its device port absent: the fuzzer talks to
the HTTP surface, the pipeline only sees a disconnected device). Every operation gets positive and
negative data (at most ``MAX_EXAMPLES`` each), with the admin token so the fuzzer gets past the guard;
a last test checks that the buffer's invariants still hold after the whole run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from daemon_harness import Daemon, free_port, prepare_daemon
from hypothesis import HealthCheck, Phase, settings
from reliability_support import assert_error_shape, chain, impossible_rows, integrity
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks

from kkt_adapter.config.settings import Settings
from kkt_adapter.daemon.wiring import build_app

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One real daemon for the module, with an admin token; stopped after the last test."""
    workdir = tmp_path_factory.mktemp("fuzz")
    # The default device kkt1 on run/kkt1 (absent in the workdir) and an OFD nobody listens at.
    settings = {"export": {"enabled": True, "base_url": f"http://127.0.0.1:{free_port()}"}}
    daemon = prepare_daemon(workdir, settings, {"KKT_ADAPTER_ADMIN_TOKEN": ADMIN_TOKEN})
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


# The schema the daemon serves at /openapi.json, taken from the same app object at import time (building
# the app starts nothing: its lifespan runs only under a server). schemathesis's lazy fixture loader does
# not work under pytest 9, so the schema cannot come from the running daemon at collection time;
# test_the_served_schema_is_the_one_fuzzed proves the two are the same.
SCHEMA_DOC = build_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(SCHEMA_DOC)
schema.config.generation.update(modes=list(GenerationMode), max_examples=MAX_EXAMPLES)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    database=None,
)
def test_no_operation_answers_5xx_or_off_schema(case: schemathesis.Case[Any], fuzz_daemon: Daemon) -> None:
    """Any generated request (valid or not) gets a non-5xx answer whose status and body match the schema."""
    case.call_and_validate(
        base_url=fuzz_daemon.base_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
        # Schema-valid receipts mostly break the cross-field rules (sums, VAT by date): 422 is right there.
        excluded_checks=[checks.positive_data_acceptance],
    )


@pytest.mark.slow  # selectable with -m "not slow" locally; scripts/test (CI) runs every test
@pytest.mark.timeout(900)
def test_every_schemathesis_phase_with_the_admin_token(fuzz_daemon: Daemon, tmp_path: Path) -> None:
    """``schemathesis run`` with all four phases (examples, coverage, fuzzing, stateful) and every check but
    positive-data acceptance finds nothing: the schema states what the validation enforces."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{fuzz_daemon.base_url}/openapi.json",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--header=Authorization: Bearer {ADMIN_TOKEN}",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",  # schema-valid receipts mostly break the sums: 422 is right
        f"--max-examples={MAX_EXAMPLES}",
        "--seed=12",
        f"--report-dir={tmp_path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=840, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_served_schema_is_the_one_fuzzed(fuzz_daemon: Daemon) -> None:
    """The running daemon serves exactly the schema the fuzzer generated from."""
    served = httpx.get(f"{fuzz_daemon.base_url}/openapi.json", timeout=10).json()
    assert served == SCHEMA_DOC


def test_a_dlq_offset_beyond_64_bits_is_422_not_500(fuzz_daemon: Daemon) -> None:
    """Regression (found by the fuzzer): ``offset=2**74`` overflowed SQLite's integer binding and answered 500."""
    response = httpx.get(
        f"{fuzz_daemon.base_url}/v1/admin/dlq",
        params={"offset": str(2**74)},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert assert_error_shape(response)["details"][0]["field"] == "query.offset"


def test_every_documented_error_answer_has_the_error_shape() -> None:
    """Regression (found by the fuzzer): admin 404s were undocumented and 422s were FastAPI's own shape."""
    undocumented = []
    for path, methods in SCHEMA_DOC["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                ref = json.dumps(answer)
                if status.startswith("4") and "ErrorBody" not in ref:
                    undocumented.append(f"{method.upper()} {path} {status}")
            if path.startswith("/v1/admin") and "404" not in operation["responses"]:
                undocumented.append(f"{method.upper()} {path} 404 missing")
    assert undocumented == []
    assert "503" in SCHEMA_DOC["paths"]["/health/ready"]["get"]["responses"]


def test_the_buffer_is_sound_after_fuzzing(fuzz_daemon: Daemon) -> None:
    """After the fuzz run the buffer passes integrity_check, its chain verifies and no row is impossible."""
    assert fuzz_daemon.process is not None
    assert fuzz_daemon.process.poll() is None, "the daemon died while fuzzed"
    started = time.monotonic()
    assert integrity(fuzz_daemon.db_path) == "ok"
    verdict = chain(fuzz_daemon.db_path)
    assert verdict.ok, verdict
    assert impossible_rows(fuzz_daemon.db_path) == []
    assert time.monotonic() - started < 30
    assert "Traceback" not in fuzz_daemon.log_text()
