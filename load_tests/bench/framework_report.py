"""Ratios, targets and the Markdown report of the framework benchmark (``python -m load_tests.bench.frameworks``).

The same rules as the main benchmark's report (:mod:`.report`, whose helpers this uses): every ratio is taken
within a round, the headline is the median over rounds, the per-round values stand beside it.
"""

from __future__ import annotations

from typing import Any

from .markdown_report import fmt, median_of, noise
from .named_cost import BATCHES
from .report import ratio

__all__ = ["FRAMEWORKS", "NAMED_TARGET", "compute", "markdown", "target_names"]

FRAMEWORKS = {"xgboost": "XGBoost", "lightgbm": "LightGBM"}
NAMED_TARGET = "named-input validation: µs per row reported (records, 1,000 rows a request)"
_NAMED_ARMS = ("named-records", "named-columns")


def _throughput_target(framework: str) -> str:
    return f"{FRAMEWORKS[framework]}: gateway (OIP v2) vs MLServer (mlserver-{framework}): throughput"


def target_names() -> list[str]:
    """Every target row the report holds, measured or not."""
    return [*(_throughput_target(f) for f in FRAMEWORKS), NAMED_TARGET]


def compute(rounds: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The targets (throughput ≥ 1.0× MLServer's per framework; the named-input cost reported) and every
    gateway-vs-MLServer ratio, per round and median (``meta["named_inputs"]``: :func:`.named_cost.measure`)."""
    targets, ratios = [], []
    for framework, label in FRAMEWORKS.items():
        gw, native, ml = f"gw-{framework}", f"gw-{framework}-native", f"mlserver-{framework}"
        targets.append(ratio(rounds, _throughput_target(framework), gw, ml, "throughput", "closed", target=(">=", 1.0)))
        ratios += [
            ratio(rounds, f"{label}: gateway (OIP v2) vs MLServer: throughput", gw, ml, "throughput", "closed"),
            ratio(rounds, f"{label}: gateway (OIP v2) vs MLServer: CPU/request (incl. Redis)", gw, ml, "cpu", "closed"),
            ratio(rounds, f"{label}: gateway (OIP v2) vs MLServer: CPU/request (gateway tree only)", gw, ml,
                  "cpu_tree", "closed"),
            ratio(rounds, f"{label}: gateway (native /predict) vs MLServer: throughput", native, ml, "throughput",
                  "closed"),
            ratio(rounds, f"{label}: gateway (native /predict) vs MLServer: CPU/request (incl. Redis)", native, ml,
                  "cpu", "closed"),
            ratio(rounds, f"{label}: gateway native /predict vs OIP v2: throughput", native, gw, "throughput",
                  "closed"),
        ]  # fmt: skip
    batches = (meta.get("named_inputs") or {}).get("batches", {})
    measured = all(str(rows) in batches for rows in BATCHES)
    per_row = batches.get("1000", {}).get("named-records", {}).get("us_per_row")
    named = {
        "name": NAMED_TARGET,
        "numerator": "named-records",
        "denominator": None,
        "metric": "µs/row",
        "kind": "single",
        "per_round": [],
        "median": per_row,
        "target": "reported",
        "status": "pass" if measured and per_row is not None else "n/a",
    }
    return {"targets": [*(t.to_dict() for t in targets), named], "ratios": [r.to_dict() for r in ratios]}


def _per_round(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def markdown(data: dict[str, Any]) -> str:
    meta, rounds, computed = data["meta"], data["rounds"], data["computed"]
    lines = [
        f"# canaryline vs MLServer's own runtimes (XGBoost, LightGBM): {meta['mode']} mode",
        "",
        f"{meta['finished_at']} · {meta['rounds']} round(s) · closed-loop arms {meta['closed_s']} s "
        f"(warm-up {meta['warmup_s']} s) · load generator `{meta['generator']}` ({meta['connections']} connections) "
        f"· store: {meta['store']} · "
        f"{'servers pinned to core 0, load generator to core 1' if meta['pinned'] else 'NOT pinned'} · "
        f"run took {meta['elapsed_s']:.0f} s (set-up {meta['setup_s']:.0f} s)",
        "",
        "One breast-cancer row (30 features) a request, the same rows to every arm. The gateway serves both models "
        "from one worker, logging each answer in `ack` mode to Redis, stable only; MLServer serves the same model "
        "files in one process through mlserver-xgboost and mlserver-lightgbm. `gw-<framework>` sends the gateway "
        "the very OIP v2 body MLServer gets (`POST /v2/models/<name>/infer`, outputs predict and predict_proba); "
        "`gw-<framework>-native` sends the same row to its native `POST /predict`. Ratios are per round, the "
        "median over rounds beside them. CPU/request = CPU time of the server's process tree (plus Redis's, for "
        "the gateway) ÷ requests served.",
        "",
        "## Targets",
        "",
        "| target | measured | per round | bound | result |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for t in computed["targets"]:
        unit = f" {t['metric']}" if t["kind"] == "single" else ""
        lines.append(
            f"| {t['name']} | {fmt(t['median'], 3)}{unit} | {_per_round(t['per_round'])} | {t['target']} "
            f"| **{t['status']}** |"
        )
    lines += ["", "## Gateway vs MLServer, per round", "", "| ratio | median | per round |", "| --- | ---: | --- |"]
    lines += [f"| {r['name']} | {fmt(r['median'], 3)} | {_per_round(r['per_round'])} |" for r in computed["ratios"]]
    lines += _arm_lines(rounds) + _floor_lines(meta) + _named_lines(meta.get("named_inputs") or {})
    if meta.get("skipped"):
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in meta["skipped"].items()]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in meta.get("notes", [])]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items() if k != "argv")]
    return "\n".join(lines) + "\n"


def _arm_lines(rounds: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Closed-loop arms (median over rounds)",
        "",
        "| arm | req/s | × MLServer (same model) | CPU µs/req (server tree) | + Redis µs/req | CPU × MLServer "
        "(incl. Redis) | errors | other load on core 0 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm in dict.fromkeys(a for r in rounds for a in r["closed"]):
        framework = next((f for f in FRAMEWORKS if f in arm), "")
        base = f"mlserver-{framework}"
        vs_ml = ratio(rounds, "", arm, base, "throughput", "closed").median if arm != base else 1.0
        cpu_vs = ratio(rounds, "", arm, base, "cpu", "closed").median if arm != base else 1.0
        errors = sum(r["closed"][arm]["errors"] for r in rounds if arm in r["closed"])
        lines.append(
            f"| {arm} | {fmt(median_of(rounds, 'closed', arm, 'throughput'), 1)} | {fmt(vs_ml, 3)} | "
            f"{fmt(median_of(rounds, 'closed', arm, 'cpu_us_per_req'), 1)} | "
            f"{fmt(median_of(rounds, 'closed', arm, 'redis_cpu_us_per_req'), 1)} | {fmt(cpu_vs, 3)} | {errors} | "
            f"{noise(rounds, 'closed', arm)} |"
        )
    return lines


def _floor_lines(meta: dict[str, Any]) -> list[str]:
    floors, agreement = meta.get("model_floor") or {}, meta.get("agreement") or {}
    lines = [
        "",
        "## The models' own calls (in-process, µs per single-row request, best of 3 × 1,000)",
        "",
        "The gateway calls `predict` and `predict_proba` on the model as its registry loads it; mlserver-xgboost "
        "calls both for a body asking for both outputs; mlserver-lightgbm calls `Booster.predict` once (it "
        "answers one output, the probabilities, whatever the body asks), and the gateway's LightGBM version is "
        "a Booster too, whose `predict` (labels) and `predict_proba` each run it. Agreement: the largest "
        "difference between the two servers' class-1 probabilities over 20 requests.",
        "",
        "| framework | gateway's model calls µs | MLServer runtime's model calls µs | agreement (max difference) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for framework in FRAMEWORKS:
        figures = floors.get(framework, {})
        lines.append(
            f"| {framework} | {fmt(figures.get('gateway_us'), 1)} | {fmt(figures.get('mlserver_us'), 1)} | "
            f"{fmt(agreement.get(framework), 9)} |"
        )
    return lines


def _named_lines(named: dict[str, Any]) -> list[str]:
    lines = ["", "## Named-input validation per row, without HTTP (`python -m load_tests.bench.named_cost`)", ""]
    if not named.get("batches"):
        return [*lines, f"not measured: {named.get('error', 'no figures')}"]
    lines += [
        f"`parse_named` + `validate_named` on decoded JSON for an eight-field schema ({', '.join(named['fields'])}), "
        "as records and as columns, against `parse_rows` + `check_width` for a numeric matrix of the same width. "
        f"CPU time of this thread, best of {named['rounds']} interleaved rounds of {named['rows_per_run']:,} rows.",
        "",
        "| rows a request | matrix µs/row | named records µs/row | × matrix | named columns µs/row | × matrix "
        "| named records µs/request |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for rows, arms in named["batches"].items():
        records, columns = (arms[name] for name in _NAMED_ARMS)
        lines.append(
            f"| {int(rows):,} | {arms['matrix']['us_per_row']:.3f} | {records['us_per_row']:.3f} | "
            f"{fmt(records['x_matrix'])} | {columns['us_per_row']:.3f} | {fmt(columns['x_matrix'])} | "
            f"{records['us_per_request']:.1f} |"
        )
    return lines
