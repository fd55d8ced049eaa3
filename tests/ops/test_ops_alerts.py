"""The shipped Prometheus rules and Grafana dashboard: valid, tested, and naming only metrics the daemon exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from prereq import missing

from kkt_adapter.ops.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "config" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "config" / "prometheus" / "alerts.test.yml"
DASHBOARD = REPO / "config" / "grafana" / "kkt-adapter-fleet.json"
METRIC = re.compile(r"\bkkt_[a-z0-9_]+")
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def promtool() -> str:
    """promtool (Debian package ``prometheus``; scripts/test installs it); a missing one fails under CI."""
    found = shutil.which("promtool")
    if found is None:
        missing("promtool (scripts/test installs the prometheus package)")
    return found


def exposed_series() -> set[str]:
    """Every series name the daemon's /metrics can carry (histogram buckets included)."""
    names = {family.name for family in Metrics().registry.collect()}
    text = Metrics().render().decode()
    names |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for family in Metrics().registry.collect():
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in SERIES_SUFFIXES}
        if family.type == "counter":
            names.add(family.name + "_total")
    return names


def test_rules_pass_promtool_check() -> None:
    """``promtool check rules`` accepts config/prometheus/alerts.yml."""
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_fire_when_they_must_and_not_before() -> None:
    """``promtool test rules``: the 3-day stage, breaker open, DLQ, device halted and capacity alerts fire on time."""
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False, cwd=RULES.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_name_only_exposed_metrics() -> None:
    """Every metric an alert reads is one the daemon exposes."""
    named = set(METRIC.findall(RULES.read_text(encoding="utf-8")))
    assert named
    assert named <= exposed_series(), sorted(named - exposed_series())


def test_the_30_day_clock_has_its_four_stages() -> None:
    """The rules alarm at 3, 7, 20 and 25 days of the FN's oldest unsent document."""
    text = RULES.read_text(encoding="utf-8")
    assert [int(d) for d in re.findall(r"kkt_ofd_queue_oldest_age_seconds\) >= (\d+) \* 86400", text)] == [3, 7, 20, 25]


def test_dashboard_parses_and_names_only_exposed_metrics() -> None:
    """The Grafana dashboard is JSON with panels whose every expression reads exposed metrics."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named <= exposed_series(), sorted(named - exposed_series())
    assert {"kkt_ofd_queue_oldest_age_seconds", "kkt_ofd_breaker_state", "kkt_ofd_dlq_size"} <= named
