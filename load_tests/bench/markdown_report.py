"""The Markdown report of a benchmark run: the targets table, then the closed-loop and fixed-rate arm tables,
the other ratios, the floors, the hot path, the layer split and rollback propagation.

It renders what :func:`~load_tests.bench.report.compute` computed and the rounds' raw figures (medians over
rounds for the arm tables; pooled percentiles for the fixed-rate ones).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .report import per_round_median

__all__ = ["fmt", "markdown", "median_of", "noise"]


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
        vs_bento = per_round_median(rounds, arm, "bentoml", "throughput")
        vs_ml = per_round_median(rounds, arm, "mlserver", "throughput")
        cpu_vs = per_round_median(rounds, arm, "bentoml", "cpu")
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
