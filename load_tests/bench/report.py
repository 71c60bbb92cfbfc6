"""Ratios, targets and the Markdown + JSON reports of a benchmark run.

Every ratio is computed within a round (both arms measured minutes apart at most, on the same noisy
machine) and the headline is the median over rounds; the per-round values are kept alongside.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from .fixed_rate import percentile

__all__ = ["Ratio", "compute", "fmt", "markdown", "median_of", "noise", "ratio"]


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


def median_of(rounds: list[dict[str, Any]], kind: str, arm: str, key: str) -> float | None:
    values = [r[kind][arm][key] for r in rounds if arm in r[kind] and r[kind][arm].get(key) is not None]
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return round(statistics.median(values), 2) if values else None


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(data: dict[str, Any]) -> str:
    meta, rounds, computed = data["meta"], data["rounds"], data["computed"]
    lines = [
        f"# canaryline benchmark: {meta['mode']} mode",
        "",
        f"{meta['finished_at']} · {meta['rounds']} round(s) · closed-loop arms {meta['closed_s']} s, "
        f"fixed-rate arms {meta['fixed_s']} s · load generator `{meta['generator']}` "
        f"({meta['connections']} connections per target) · store: {meta['store']} · "
        f"{'servers pinned to core 0, load generator to core 1' if meta['pinned'] else 'NOT pinned'} · "
        f"run took {meta['elapsed_s']:.0f} s (set-up {meta['setup_s']:.0f} s)",
        "",
        "Ratios are per round, then the median over rounds (the per-round values beside it). "
        "CPU/request = CPU time of the server's process tree (plus Redis's, for arms logging to it) "
        "÷ requests served. p99s only from fixed-rate arms, at half of MLServer's closed-loop throughput "
        "(bare BentoML's when MLServer is not run; its median up to that round); p99 ratios are headlined by "
        "each arm's p99 over all its rounds' samples together (per-round ratios beside them). "
        "'Other load on core 0': what processes not of this benchmark took of the "
        f"server core while an arm ran (arms over {100 * meta.get('noise_limit', 0.15):.0f}% are run again, "
        "the quietest run kept).",
        "",
        "## Targets",
        "",
        "| target | measured | per round | bound | result |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for t in computed["targets"]:
        per_round = ", ".join(f"{v:.3f}" for v in t["per_round"]) if t["per_round"] else ""
        unit = {"propagation": " ms", "single": f" {t['metric']}"}.get(t["kind"], "")
        lines.append(
            f"| {t['name']} | {fmt(t['median'], 3)}{unit} | {per_round} | {t['target']}{unit} | **{t['status']}** |"
        )
    lines += [
        "",
        "## Closed-loop arms (throughput, CPU per request)",
        "",
        "| arm | req/s | × bare BentoML | × MLServer | CPU µs/req (server tree) | + Redis µs/req | CPU × bare BentoML "
        "| errors | other load on core 0 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    arms = list(dict.fromkeys(a for r in rounds for a in r["closed"]))
    for arm in arms:
        thr = median_of(rounds, "closed", arm, "throughput")
        cpu = median_of(rounds, "closed", arm, "cpu_us_per_req")
        redis = median_of(rounds, "closed", arm, "redis_cpu_us_per_req")
        vs_bento = _per_round_median(rounds, arm, "bentoml", "throughput")
        vs_ml = _per_round_median(rounds, arm, "mlserver", "throughput")
        cpu_vs = _per_round_median(rounds, arm, "bentoml", "cpu")
        errors = sum(r["closed"][arm]["errors"] for r in rounds if arm in r["closed"])
        lines.append(
            f"| {arm} | {fmt(thr, 1)} | {fmt(vs_bento, 3)} | {fmt(vs_ml, 3)} | {fmt(cpu, 1)} | "
            f"{fmt(redis, 1)} | {fmt(cpu_vs, 3)} | {errors} | {noise(rounds, 'closed', arm)} |"
        )
    lines += [
        "",
        "## Fixed-rate arms (latency, open loop, counted from when each request was due)",
        "",
        "Percentiles over every round's samples together; p99 per round and the GC pauses in each round beside them.",
        "",
        "| arm | rate req/s | samples | p50 ms | p95 ms | p99 ms | p99.9 ms | p99 × bare BentoML | p99 per round ms "
        "| CPU µs/req (+Redis) | errors | versions served | other load on core 0 "
        "| server GC pauses ≥5 ms (longest: wall, CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | --- |",
    ]
    pooled = data.get("pooled_fixed", {})
    base_p99 = pooled.get("bentoml", {}).get("p99_ms")
    for arm in dict.fromkeys(a for r in rounds for a in r["fixed"]):
        versions: dict[str, int] = {}
        for r in rounds:
            for v, n in r["fixed"].get(arm, {}).get("versions", {}).items():
                versions[v] = versions.get(v, 0) + n
        total = sum(versions.values()) or 1
        shares = ", ".join(f"{v} {100 * n / total:.1f}%" for v, n in sorted(versions.items()) if v != "-") or "n/a"
        cpu = median_of(rounds, "fixed", arm, "cpu_us_per_req")
        redis = median_of(rounds, "fixed", arm, "redis_cpu_us_per_req")
        errors = sum(r["fixed"][arm]["errors"] for r in rounds if arm in r["fixed"])
        mine = pooled.get(arm, {})
        vs_base = round(mine["p99_ms"] / base_p99, 3) if base_p99 and mine.get("p99_ms") else None
        per_round = ", ".join(f"{r['fixed'][arm]['p99_ms']:.0f}" for r in rounds if arm in r["fixed"])
        lines.append(
            f"| {arm} | {fmt(median_of(rounds, 'fixed', arm, 'rate'), 0)} | {mine.get('samples', '–')} | "
            f"{fmt(mine.get('p50_ms'))} | {fmt(mine.get('p95_ms'))} | {fmt(mine.get('p99_ms'))} | "
            f"{fmt(mine.get('p99.9_ms'))} | "
            f"{fmt(vs_base, 3)} | {per_round} | {fmt(cpu, 1)} (+{fmt(redis, 1)})"
            f" | {errors} | {shares} | {noise(rounds, 'fixed', arm)} | {_gc(rounds, arm)} |"
        )
    lines += ["", "## Other ratios", "", "| ratio | median | per round |", "| --- | ---: | --- |"]
    for r in computed["ratios"]:
        lines.append(f"| {r['name']} | {fmt(r['median'], 3)} | {', '.join(f'{v:.3f}' for v in r['per_round'])} |")
    floor = meta.get("model_floor") or {}
    gw_cpu = median_of(rounds, "closed", "gw-canary", "cpu_us_per_req")
    lines += [
        "",
        "## Floors",
        "",
        f"- the model's own time per single-row request (in-process, best of 3 × 1,000 calls): predict "
        f"{fmt(floor.get('predict_us'), 1)} µs, predict_proba {fmt(floor.get('predict_proba_us'), 1)} µs, both "
        f"(what the gateway and the baselines do) {fmt(floor.get('predict_and_proba_us'), 1)} µs"
        + (
            f" = {100 * floor['predict_and_proba_us'] / gw_cpu:.0f}% of the gateway's CPU per request"
            if gw_cpu and floor.get("predict_and_proba_us")
            else ""
        ),
        f"- the shadow version v3 (100-tree forest), predict + predict_proba: "
        f"{fmt(floor.get('shadow_predict_and_proba_us'), 1)} µs per row",
        f"- echo floor (uvicorn + Starlette): {fmt(median_of(rounds, 'closed', 'echo', 'throughput'), 0)} req/s; "
        f"BentoML no-op endpoint: {fmt(median_of(rounds, 'closed', 'bentoml-noop', 'throughput'), 0)} req/s",
    ]
    lines += _hot_path_lines(meta.get("hot_path") or {}) + _layer_lines(meta.get("layers") or {})
    prop = computed.get("propagation")
    if prop:
        lines += [
            "",
            "## Rollback propagation",
            "",
            f"{prop['changes']} rollbacks (each after a promote) through the replicas' admin API in turn, "
            f"{prop['replicas']} replica(s) probed with `POST /predict` from the moment the admin call returned: "
            f"p50 {prop['p50_ms']} ms, p99 {prop['p99_ms']} ms, max {prop['max_ms']} ms over {prop['samples']} "
            f"(change, replica) samples; replicas other than the one that took the call: p50 "
            f"{prop['other_replicas_p50_ms']} ms, p99 {prop['other_replicas_p99_ms']} ms; timeouts "
            f"{prop['timeouts']}. The admin call itself took {prop['admin_call_p50_ms']} ms (p50). A delay "
            "includes one probe's round trip.",
        ]
    if meta.get("shadow_stats"):
        lines += ["", f"Shadow counters on the main gateway at the end: `{meta['shadow_stats']}`"]
    if meta.get("skipped"):
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in meta["skipped"].items()]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in meta.get("notes", [])]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if k != "argv")]
    return "\n".join(lines) + "\n"


def _hot_path_lines(hot: dict[str, Any]) -> list[str]:
    lines = ["", "## Our own hot path without HTTP (`python -m load_tests.bench.hot_path`)", ""]
    if "arms" not in hot:
        return [*lines, f"not measured: {hot.get('error', 'no figures')}"]
    lines += [
        f"The data plane's request side in one process, {hot['concurrency']} requests in flight at a time, best "
        f"of {hot['rounds']} interleaved rounds × {hot['requests']} requests; CPU time of the request thread. "
        "'Ours' = the arm minus the model's own calls (one per version among the requests in flight, as the "
        "batcher makes them) and minus the loop's own cost (a task per request).",
        "",
        "| arm | CPU µs/req | ours µs/req | + log writer thread µs/req |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, figures in hot["arms"].items():
        writer = max(figures["process_us"] - figures["thread_us"], 0.0)
        ours = hot["ours_us"].get(name)
        lines.append(f"| {name} | {figures['thread_us']:.1f} | {fmt(ours, 1)} | {writer:.1f} |")
    return lines


def _layer_lines(layers: dict[str, Any]) -> list[str]:
    lines = ["", "## Where the gateway's CPU per request goes (py-spy, gw-canary)", ""]
    if not layers.get("layers"):
        return [*lines, f"not measured: {layers.get('error', 'no samples')}"]
    lines += [
        f"One closed-loop gw-canary run with `py-spy record --gil` on the worker: {layers['samples']} samples, "
        f"{layers['throughput']:.0f} req/s, {layers['cpu_us_per_req']:.0f} µs CPU/req in the gateway's tree "
        f"(+{layers['redis_cpu_us_per_req']:.0f} µs Redis), other load on core 0 "
        f"{100 * layers['other_cpu_share']:.0f}%. Each sample counts for the deepest layer on its stack "
        "(`load_tests/bench/layers.py`).",
        "",
        "| layer | share of samples | µs/req |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {v['share']:.1%} | {v['us_per_req']:.0f} |" for name, v in layers["layers"].items()]
    return lines


def _gc(rounds: list[dict[str, Any]], arm: str) -> str:
    parts = []
    for r in rounds:
        figures = r["fixed"].get(arm)
        if figures is not None and "gc_pauses" in figures:
            cpu = f", {figures['gc_max_cpu_ms']:.0f} ms CPU" if "gc_max_cpu_ms" in figures else ""
            parts.append(f"{figures['gc_pauses']} ({figures['gc_max_ms']:.0f} ms{cpu})")
    return ", ".join(parts)


def noise(rounds: list[dict[str, Any]], kind: str, arm: str) -> str:
    """Other processes' share of the server core while the arm ran, per round (and the runs it took)."""
    parts = []
    for r in rounds:
        figures = r[kind].get(arm)
        if figures is not None:
            retried = f" ({figures['attempts']} runs)" if figures.get("attempts", 1) > 1 else ""
            parts.append(f"{100 * figures.get('other_cpu_share', 0):.0f}%{retried}")
    return ", ".join(parts)


def _per_round_median(
    rounds: list[dict[str, Any]], num: str, den: str, metric: str, kind: str = "closed"
) -> float | None:
    if num == den:
        return 1.0 if any(num in r[kind] for r in rounds) else None
    return ratio(rounds, "", num, den, metric, kind).median
