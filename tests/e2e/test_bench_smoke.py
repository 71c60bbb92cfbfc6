"""The benchmark's smoke mode, so `make bench` cannot rot: one round, two arms, a few seconds each."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
#: Every target of the performance issue, and the older ones; the report must hold a row for each, whether
#: or not it is met (smoke mode measures some of them as n/a).
TARGET_ROWS = (
    "gateway vs bare BentoML: throughput",
    "gateway vs bare BentoML: CPU/request (incl. Redis)",
    "gateway vs bare BentoML: p99 at half load",
    "gateway vs MLServer: throughput",
    "gateway vs MLServer: CPU/request (incl. Redis)",
    "gateway vs MLServer: p99 at half of MLServer's peak",
    "gateway vs MLServer: p99.9 at half of MLServer's peak",
    "100-row requests: gateway vs MLServer CPU per row (incl. Redis)",
    "shadow 100% (slower v3) vs no shadow: primary p99 at half load",
    "ack vs off logging: throughput",
    "longest server GC pause in the gateway's fixed-rate arms",
    "our own hot path without HTTP: CPU/request",
    "every layer's cost known: py-spy samples behind the layer split",
    "rollback propagation p99 across 1 replica(s)",
)


def test_bench_smoke_serves_every_request_and_writes_both_reports(tmp_path: Path) -> None:
    """`python -m load_tests.bench --smoke` runs bare BentoML and the gateway, fails no request, and reports
    throughput, CPU per request, fixed-rate p99s, the hot path, a row for every target and rollback propagation."""
    done = subprocess.run(
        [sys.executable, "-m", "load_tests.bench", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-5000:]}"
    data = json.loads((tmp_path / "bench-smoke.json").read_text())
    (round_,) = data["rounds"]
    assert set(round_["closed"]) == {"bentoml", "gw-canary"}
    for figures in round_["closed"].values():
        assert figures["ok"] > 0 and figures["errors"] == 0
        assert figures["throughput"] > 0 and figures["cpu_us_per_req"] > 0
    assert set(round_["fixed"]) == {"bentoml", "gw-canary"}
    for figures in round_["fixed"].values():
        assert figures["errors"] == 0 and math.isfinite(figures["p99_ms"])
    assert set(round_["fixed"]["gw-canary"]["versions"]) <= {"v1", "v2"}  # stable and the 10% canary only

    targets = {t["name"]: t for t in data["computed"]["targets"]}
    assert set(TARGET_ROWS) <= set(targets), f"target rows missing: {set(TARGET_ROWS) - set(targets)}"
    for name in TARGET_ROWS:
        assert targets[name]["status"] in ("pass", "miss", "n/a") and targets[name]["target"], targets[name]
    headline = targets["gateway vs bare BentoML: throughput"]
    assert headline["status"] in ("pass", "miss") and headline["median"] > 0
    assert targets["gateway vs MLServer: throughput"]["status"] == "n/a"  # smoke mode runs no MLServer
    hot_path = targets["our own hot path without HTTP: CPU/request"]
    assert hot_path["median"] is not None and hot_path["median"] > -1000, data["meta"]["hot_path"]
    propagation = data["computed"]["propagation"]
    assert propagation["samples"] == propagation["changes"] == 3 and propagation["timeouts"] == 0

    report = (tmp_path / "bench-smoke.md").read_text()
    assert "## Targets" in report and "gw-canary" in report
    for name in TARGET_ROWS:
        assert f"| {name} |" in report, f"no row for target {name!r} in the Markdown report"
