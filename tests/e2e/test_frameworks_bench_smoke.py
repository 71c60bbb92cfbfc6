"""The framework benchmark's quick mode with tiny durations, so `python -m load_tests.bench.frameworks` cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from load_tests.bench.config import FRAMEWORK_ARMS
from load_tests.bench.framework_report import target_names
from load_tests.bench.named_cost import BATCHES
from tests.support.mlserver_client import VENV, mlserver_python

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
RUNTIMES = ("xgboost", "lightgbm")


@pytest.mark.timeout(900)  # the first run makes MLServer's virtualenv (or adds its two runtimes): minutes
def test_framework_bench_runs_every_arm_and_reports_every_target_row(tmp_path: Path) -> None:
    """`python -m load_tests.bench.frameworks --quick` with one round of 1 s arms serves the gateway's and MLServer's
    XGBoost and LightGBM arms without a failed request, both servers answer the same probabilities, and the reports
    hold a row for each target (measured, pass or miss), each ratio and each named-input batch size."""
    mlserver_python(RUNTIMES)
    argv = [sys.executable, "-m", "load_tests.bench.frameworks", "--quick", "--rounds", "1", "--seconds", "1"]
    argv += ["--warmup", "0", "--named-rounds", "1", "--named-rows", "2000", "--mlserver-venv", str(VENV)]
    done = subprocess.run(
        [*argv, "--out", str(tmp_path)], capture_output=True, text=True, timeout=400, cwd=REPO, check=False
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-5000:]}"
    data = json.loads((tmp_path / "frameworks-quick.json").read_text())
    (round_,) = data["rounds"]
    assert set(round_["closed"]) == set(FRAMEWORK_ARMS)
    for figures in round_["closed"].values():
        assert figures["ok"] > 0 and figures["errors"] == 0, figures
        assert figures["throughput"] > 0 and figures["cpu_us_per_req"] > 0, figures
    assert set(data["meta"]["agreement"]) == set(RUNTIMES)
    assert all(difference < 1e-6 for difference in data["meta"]["agreement"].values()), data["meta"]["agreement"]

    targets = {t["name"]: t for t in data["computed"]["targets"]}
    assert list(targets) == target_names()
    for target in targets.values():
        assert target["status"] in ("pass", "miss") and target["median"] > 0, target
    ratios = data["computed"]["ratios"]
    assert ratios and all(len(r["per_round"]) == 1 for r in ratios), ratios
    batches = data["meta"]["named_inputs"]["batches"]
    assert list(batches) == [str(rows) for rows in BATCHES]
    for arms in batches.values():
        assert set(arms) == {"matrix", "named-records", "named-columns"}
        assert all(figures["us_per_row"] > 0 for figures in arms.values()), arms

    report = (tmp_path / "frameworks-quick.md").read_text()
    for name in [*targets, *(r["name"] for r in ratios)]:
        assert f"| {name} |" in report, f"no row for {name!r} in the Markdown report"
    for rows in BATCHES:
        assert f"| {rows:,} |" in report, f"no named-input row for {rows} rows a request"
