"""Ratios and targets of a benchmark run: what the JSON report holds and the Markdown one
(:mod:`~load_tests.bench.markdown_report`) shows.

Every ratio is computed within a round (both arms measured minutes apart at most, on the same noisy
machine) and the headline is the median over rounds; the per-round values are kept alongside.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from .fixed_rate import percentile

__all__ = ["Ratio", "compute", "per_round_median", "ratio"]


@dataclass
class Ratio:
    name: str
    num: str
    den: str
    metric: str  # "throughput", "cpu" (server tree + Redis), "cpu_tree", "p99"
    kind: str  # "closed" or "fixed"
    per_round: list[float]
    target: tuple[str, float] | None = None  # (">=" or "<=", bound)
    #: For p99s: the ratio of each arm's p99 over all its rounds' samples together, the headline figure
    #: (a p99 from a few seconds hinges on whether a garbage collection fell into them; pooling evens it).
    pooled: float | None = None

    @property
    def median(self) -> float | None:
        if self.pooled is not None:
            return self.pooled
        return round(statistics.median(self.per_round), 3) if self.per_round else None

    @property
    def status(self) -> str:
        if self.target is None:
            return ""
        if self.median is None:
            return "n/a"
        return _meets(self.median, *self.target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "numerator": self.num,
            "denominator": self.den,
            "metric": self.metric,
            "kind": self.kind,
            "per_round": self.per_round,
            "median": self.median,
            "headline": "pooled p99 ratio" if self.pooled is not None else "median of per-round ratios",
            "target": f"{self.target[0]} {self.target[1]}" if self.target else None,
            "status": self.status or None,
        }


def _meets(value: float, op: str, bound: float) -> str:
    passed = {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]
    return "pass" if passed else "miss"


def _single(name: str, value: float | None, op: str, bound: float, metric: str) -> dict[str, Any]:
    """A target measured once per run (not a ratio per round)."""
    return {
        "name": name,
        "numerator": metric,
        "denominator": None,
        "metric": metric,
        "kind": "single",
        "per_round": [],
        "median": value,
        "target": f"{op} {bound:g}",
        "status": "n/a" if value is None else _meets(value, op, bound),
    }


def _longest_gc_pause(rounds: list[dict[str, Any]], arms: tuple[str, ...]) -> float | None:
    pauses = [r["fixed"][arm]["gc_max_ms"] for r in rounds for arm in arms if "gc_max_ms" in r["fixed"].get(arm, {})]
    return max(pauses) if pauses else None


def _value(figures: dict[str, Any], metric: str) -> float | None:
    if metric == "throughput":
        return figures.get("throughput")
    if metric == "cpu":
        return float(figures["cpu_us_per_req"] + figures.get("redis_cpu_us_per_req", 0.0))
    if metric == "cpu_tree":
        return float(figures["cpu_us_per_req"])
    return figures.get("p99_ms")


def ratio(  # noqa: PLR0917 — reads as the table of ratios it builds: name, numerator, denominator, metric
    rounds: list[dict[str, Any]], name: str, num: str, den: str, metric: str, kind: str, **kw: Any
) -> Ratio:
    values = []
    for round_ in rounds:
        a, b = round_[kind].get(num), round_[kind].get(den)
        if a and b:
            x, y = _value(a, metric), _value(b, metric)
            if x is not None and y and not math.isnan(x) and not math.isnan(y):
                values.append(round(x / y, 3))
    return Ratio(name, num, den, metric, kind, values, **kw)


def compute(
    rounds: list[dict[str, Any]],
    propagation: dict[str, Any] | None,
    pooled: dict[str, dict[str, float]],
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Targets (with pass/miss) and every other ratio, plus rollback propagation percentiles.

    "ack vs logging off" compares with the gateway's ``off`` mode when it was measured, else with ``async``.
    p99 ratios are headlined by the pooled p99s of both arms (``pooled``: percentiles over all rounds).
    ``meta`` brings the figures measured once per run: the hot path without HTTP and the layer profile.
    """
    meta = meta or {}
    measured = {arm for r in rounds for arm in r["closed"]}
    cheapest = "async" if "gw-async" in measured and "gw-off" not in measured else "off"

    def p99(num: str, den: str, key: str = "p99_ms") -> float | None:
        a, b = pooled.get(num, {}).get(key), pooled.get(den, {}).get(key)
        return round(a / b, 3) if a and b else None

    targets = [
        ratio(rounds, "gateway vs bare BentoML: throughput", "gw-canary", "bentoml", "throughput", "closed",
              target=(">=", 0.95)),
        ratio(rounds, "gateway vs bare BentoML: CPU/request (incl. Redis)", "gw-canary", "bentoml", "cpu", "closed",
              target=("<=", 1.10)),
        ratio(rounds, "gateway vs bare BentoML: p99 at half load", "gw-canary", "bentoml", "p99", "fixed",
              target=("<=", 1.2), pooled=p99("gw-canary", "bentoml")),
        ratio(rounds, "gateway vs MLServer: throughput", "gw-canary", "mlserver", "throughput", "closed",
              target=(">=", 1.3)),
        ratio(rounds, "gateway vs MLServer: CPU/request (incl. Redis)", "gw-canary", "mlserver", "cpu", "closed",
              target=("<=", 0.75)),
        ratio(rounds, "gateway vs MLServer: p99 at half of MLServer's peak", "gw-canary", "mlserver", "p99",
              "fixed", target=("<=", 1.0), pooled=p99("gw-canary", "mlserver")),
        ratio(rounds, "gateway vs MLServer: p99.9 at half of MLServer's peak", "gw-canary", "mlserver", "p99",
              "fixed", target=("<=", 1.0), pooled=p99("gw-canary", "mlserver", "p99.9_ms")),
        ratio(rounds, "100-row requests: gateway vs MLServer CPU per row (incl. Redis)", "gw-batch100",
              "mlserver-batch100", "cpu", "closed", target=("<=", 1.0)),
        ratio(rounds, "shadow 100% (slower v3) vs no shadow: primary p99 at half load", "gw-shadow", "gw-stable",
              "p99", "fixed", target=("<=", 1.1), pooled=p99("gw-shadow", "gw-stable")),
        ratio(rounds, f"ack vs {cheapest} logging: throughput", "gw-canary", f"gw-{cheapest}", "throughput",
              "closed", target=(">=", 0.9)),
        ratio(rounds, f"ack to PostgreSQL vs {cheapest} logging: throughput", "gw-postgres", f"gw-{cheapest}",
              "throughput", "closed", target=(">=", 0.9)),
        ratio(rounds, f"ack to Redis + sink to PostgreSQL vs {cheapest} logging: throughput", "gw-sink",
              f"gw-{cheapest}", "throughput", "closed", target=(">=", 0.9)),
    ]  # fmt: skip
    others = [
        ratio(rounds, "gateway vs bare BentoML: CPU/request (gateway tree only)", "gw-canary", "bentoml", "cpu_tree",
              "closed"),
        ratio(rounds, "gateway stable-only vs bare BentoML: throughput", "gw-stable", "bentoml", "throughput",
              "closed"),
        ratio(rounds, "gateway stable-only vs bare BentoML: CPU/request", "gw-stable", "bentoml", "cpu", "closed"),
        ratio(rounds, "canary 10% vs stable-only: throughput", "gw-canary", "gw-stable", "throughput", "closed"),
        ratio(rounds, "canary 10% vs stable-only: CPU/request", "gw-canary", "gw-stable", "cpu", "closed"),
        ratio(rounds, "canary 10% vs stable-only: p99 at half load", "gw-canary", "gw-stable", "p99", "fixed",
              pooled=p99("gw-canary", "gw-stable")),
        ratio(rounds, "shadow 100% vs no shadow: throughput (closed loop)", "gw-shadow", "gw-stable", "throughput",
              "closed"),
        ratio(rounds, "shadow 100% vs no shadow: CPU/request incl. shadow work", "gw-shadow", "gw-stable", "cpu",
              "closed"),
        ratio(rounds, "ack to PostgreSQL vs ack to Redis: throughput", "gw-postgres", "gw-canary", "throughput",
              "closed"),
        ratio(rounds, "ack to Redis + sink vs ack straight to PostgreSQL: throughput", "gw-sink", "gw-postgres",
              "throughput", "closed"),
        ratio(rounds, "ack to Redis + sink vs ack to Redis alone: throughput", "gw-sink", "gw-canary", "throughput",
              "closed"),
        ratio(rounds, "ack to Redis + sink vs ack to Redis alone: CPU/request (incl. Redis and the sink)", "gw-sink",
              "gw-canary", "cpu", "closed"),
        ratio(rounds, "ack vs async logging: throughput", "gw-canary", "gw-async", "throughput", "closed"),
        ratio(rounds, "ack vs async logging: CPU/request", "gw-canary", "gw-async", "cpu", "closed"),
        ratio(rounds, "async vs logging off: throughput", "gw-async", "gw-off", "throughput", "closed"),
        ratio(rounds, "ack vs logging off: CPU/request", "gw-canary", "gw-off", "cpu", "closed"),
        ratio(rounds, "gateway, logging off, vs bare BentoML: throughput", "gw-off", "bentoml", "throughput",
              "closed"),
        ratio(rounds, "gateway, logging off, vs bare BentoML: CPU/request", "gw-off", "bentoml", "cpu", "closed"),
        ratio(rounds, "gateway vs MLServer with adaptive batching: throughput", "gw-canary", "mlserver-batched",
              "throughput", "closed"),
        ratio(rounds, "bare BentoML vs MLServer: throughput", "bentoml", "mlserver", "throughput", "closed"),
        ratio(rounds, "MLServer batching on vs off: throughput", "mlserver-batched", "mlserver", "throughput",
              "closed"),
        ratio(rounds, "3 replicas vs 1 (one core, shared Redis): throughput", "replicas-3", "replicas-1",
              "throughput", "closed"),
        ratio(rounds, "3 replicas vs 1 (one core, shared Redis): CPU/request", "replicas-3", "replicas-1", "cpu",
              "closed"),
        ratio(rounds, "BentoML no-op vs echo floor: throughput", "bentoml-noop", "echo", "throughput", "closed"),
        ratio(rounds, "bare BentoML vs its no-op endpoint: throughput", "bentoml", "bentoml-noop", "throughput",
              "closed"),
    ]  # fmt: skip
    hot = meta.get("hot_path") or {}
    layers = meta.get("layers") or {}
    result: dict[str, Any] = {
        "targets": [r.to_dict() for r in targets]
        + [
            _single(
                "longest server GC pause in the gateway's fixed-rate arms",
                _longest_gc_pause(rounds, ("gw-stable", "gw-canary", "gw-shadow")),
                "<",
                20,
                "ms",
            ),
            _single("our own hot path without HTTP: CPU/request", hot.get("worst_ours_us"), "<", 50, "µs"),
            _single(
                "every layer's cost known: py-spy samples behind the layer split",
                layers.get("samples") or None,
                ">=",
                200,
                "samples",
            ),
        ],
        "ratios": [r.to_dict() for r in others if r.per_round],
    }
    if propagation is not None:
        delays = propagation["delays_ms"]
        others_ms = propagation["others_ms"]
        p99_ms = round(percentile(delays, 99), 2) if delays else None
        result["propagation"] = {
            "changes": propagation["changes"],
            "replicas": propagation["replicas"],
            "samples": len(delays),
            "timeouts": propagation["timeouts"],
            "p50_ms": round(percentile(delays, 50), 2) if delays else None,
            "p99_ms": p99_ms,
            "max_ms": round(max(delays), 2) if delays else None,
            "other_replicas_p50_ms": round(percentile(others_ms, 50), 2) if others_ms else None,
            "other_replicas_p99_ms": round(percentile(others_ms, 99), 2) if others_ms else None,
            "admin_call_p50_ms": round(percentile(propagation["admin_call_ms"], 50), 2),
        }
        status = "n/a" if p99_ms is None else ("pass" if p99_ms <= 100 and not propagation["timeouts"] else "miss")
        result["targets"].append(
            {
                "name": f"rollback propagation p99 across {propagation['replicas']} replica(s)",
                "numerator": "delay_ms",
                "denominator": None,
                "metric": "ms",
                "kind": "propagation",
                "per_round": [],
                "median": p99_ms,
                "target": "<= 100",
                "status": status,
            }
        )
    return result


def per_round_median(
    rounds: list[dict[str, Any]], num: str, den: str, metric: str, kind: str = "closed"
) -> float | None:
    """The median over rounds of ``num``'s ``metric`` over ``den``'s (1 for an arm against itself)."""
    if num == den:
        return 1.0 if any(num in r[kind] for r in rounds) else None
    return ratio(rounds, "", num, den, metric, kind).median
