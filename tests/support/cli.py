"""The `canaryline` command as a subprocess over a given store, and the independent statistics the
evaluation tests compare its output with (numpy and scipy, not registry_client.analysis.statistics)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

CANARYLINE = Path(sys.executable).with_name("canaryline")
Z = stats.norm.ppf(0.975)


def canaryline(
    *args: str, store_url: str, home: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``canaryline ARGS`` over ``store_url`` with ``home`` as its home, and ``env`` on top (a gateway, a token)."""
    merged = {
        **os.environ,
        "CANARYLINE_STORE": store_url,
        "CANARYLINE_HOME": str(home),
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        **(env or {}),
    }
    command = [str(CANARYLINE), *args]
    return subprocess.run(command, env=merged, capture_output=True, text=True, timeout=180, check=False)


def run_json(*args: str, store_url: str, home: Path) -> Any:
    done = canaryline(*args, "--json", store_url=store_url, home=home)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def table_row(stdout: str, *cells: str) -> str:
    """The one line of a table ``canaryline`` printed holding every one of ``cells`` (fails unless just one does)."""
    rows = [line for line in stdout.splitlines() if all(cell in line for cell in cells)]
    assert len(rows) == 1, f"{cells} in {len(rows)} lines of:\n{stdout}"
    return rows[0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def wilson(k: int, n: int) -> tuple[float, float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)


def anchor_rows(X: np.ndarray, y: np.ndarray, models: list[Any]) -> tuple[int, int]:
    """Indices of an iris row every model classifies right and one every model classifies wrong. A request
    holding both gives each arm right and wrong rows, so no accuracy is 0 or 1 and no test degenerates."""
    hits = np.array([model.predict(X) == y for model in models])
    return int(np.flatnonzero(hits.all(axis=0))[0]), int(np.flatnonzero(~hits.any(axis=0))[0])


def check_two_proportions(comparison: dict[str, Any], canary: np.ndarray, stable: np.ndarray) -> None:
    """``comparison`` (eval's JSON) is canary - stable accuracy over these 0/1 arrays: counts, the Newcombe
    interval from the two Wilson intervals, and the pooled z test's p-value (scipy's chi-square, 1 df)."""
    assert 0 < canary.mean() < 1 and 0 < stable.mean() < 1, "the test data must not degenerate"
    (k1, n1), (k2, n2) = (int(canary.sum()), canary.size), (int(stable.sum()), stable.size)
    assert (comparison["n_canary"], comparison["n_stable"]) == (n1, n2)
    assert (comparison["canary"], comparison["stable"]) == pytest.approx((k1 / n1, k2 / n2))
    (p1, l1, u1), (p2, l2, u2) = wilson(k1, n1), wilson(k2, n2)
    low = p1 - p2 - math.hypot(p1 - l1, u2 - p2)
    high = p1 - p2 + math.hypot(u1 - p1, p2 - l2)
    difference = comparison["difference"]
    assert (difference["value"], difference["low"], difference["high"]) == pytest.approx((p1 - p2, low, high))
    chi2 = stats.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    assert comparison["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
