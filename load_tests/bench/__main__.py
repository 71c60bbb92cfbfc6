"""``python -m load_tests.bench [--quick | --smoke]``: run the benchmark, write its Markdown and JSON reports.

Exits 1 when any benchmark request failed (the figures would not mean what they say), 0 otherwise; a
missed target is reported, not an error (``--strict`` makes it one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .closed_loop import default_generator
from .config import MODES
from .fleet import gateway_log_modes
from .markdown_report import markdown
from .report import compute
from .runner import Bench, run_meta

HERE = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", const="quick", dest="mode", help="2 rounds, ~2.5 minutes")
    group.add_argument(
        "--smoke", action="store_const", const="smoke", dest="mode", help="1 round, 2 s arms, 2 arms, no MLServer"
    )
    parser.set_defaults(mode="full")
    parser.add_argument("--rounds", type=int, help="override the mode's number of rounds")
    parser.add_argument("--seconds", type=float, dest="closed_s", help="seconds per closed-loop arm")
    parser.add_argument("--fixed-seconds", type=float, dest="fixed_s", help="seconds per fixed-rate arm")
    parser.add_argument("--changes", type=int, help="rollbacks timed for propagation")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto", help="closed-loop load")
    parser.add_argument("--no-mlserver", action="store_true", help="skip the MLServer arms")
    parser.add_argument(
        "--arms",
        type=lambda value: tuple(a for a in value.split(",") if a),
        help="only these closed-loop arms, comma-separated (gw-canary,gw-off,gw-postgres,gw-sink); the fixed-rate "
        "arms among them",
    )
    parser.add_argument(
        "--mlserver-venv", type=Path, default=HERE / ".venv-mlserver", help="MLServer's own virtualenv (made if absent)"
    )
    parser.add_argument("--out", type=Path, help="report directory (default load_tests/reports)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (server logs) afterwards")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    return parser


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _notes(mode_name: str) -> list[str]:
    log_modes = gateway_log_modes()
    off = "off" in log_modes
    return [
        "logging: gw-off is the gateway's `off` mode (a benchmark baseline that logs nothing); 'ack vs off' is the "
        "target's comparison"
        if off
        else f"logging: the gateway has no 'off' mode ({', '.join(log_modes)}), so 'ack vs async' stands in for "
        "'ack vs off': async answers before its record is written (the client never waits on the store)",
        "the gateway, bare BentoML and MLServer all answer labels and class probabilities for one iris row: "
        "two scikit-learn calls (predict, predict_proba) per request",
        "bare BentoML: `@bentoml.api async def predict(inputs) -> Prediction` (a pydantic model with fields), one "
        "worker, access log off, like the gateway's service",
        "MLServer 1.7.1 + mlserver-sklearn: `parallel_workers: 0` (in-process), `debug: false` (no access log), other "
        "settings default; V2 bodies ask for outputs predict and predict_proba; `iris-batched` has adaptive batching "
        "(max_batch_size 32, max_batch_time 2 ms)",
        "replicas: three gateway processes on the same core sharing one Redis, vs one of them alone, with the same "
        "total connections: this measures what replication costs, not what it scales to",
        "closed-loop arms: wrk -t1 on core 1 (C, Lua POST bodies); fixed-rate arms: an asyncio open-loop client on "
        "core 1 whose latencies count from when each request was due (no coordinated omission)",
        "servers start on both cores, then every thread of each server's process tree is pinned to core 0 (processes "
        "started later, like the shadow process, inherit it); Redis is pinned to core 0 too and its CPU is counted "
        "for arms that log to it",
        "every benchmarked server runs with load_tests/bench/gcwatch on its PYTHONPATH: a gc callback that logs "
        "collections of 5 ms or more, so each fixed-rate arm shows the garbage-collection pauses behind its tail",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r} as set on this machine, the same for every arm",
        f"mode {mode_name}: figures from one run on a shared 2-core machine; only the ratios are meant to be compared",
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    mode = MODES[args.mode].with_overrides(
        rounds=args.rounds,
        closed_s=args.closed_s,
        fixed_s=args.fixed_s,
        changes=args.changes,
        closed_arms=args.arms,
        fixed_arms=tuple(a for a in MODES[args.mode].fixed_arms if a in args.arms) if args.arms else None,
    )
    generator = default_generator() if args.generator == "auto" else args.generator
    mlserver_venv = None if (args.no_mlserver or mode.name == "smoke") else args.mlserver_venv
    out = args.out or HERE / "reports"
    workdir = Path(tempfile.mkdtemp(prefix="canaryline-bench-"))
    started = time.monotonic()
    bench = Bench(mode, workdir, generator=generator, mlserver_venv=mlserver_venv, say=_say)
    _say(f"{mode.name} mode, working directory {workdir}, load generator {generator}")
    try:
        bench.setup()
        bench.run()
        bench.profile_layers(3 if mode.name == "smoke" else mode.closed_s + 2)
        shadow_stats = bench.shadow_stats()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    setup = bench.setup_info
    data = {
        "meta": {
            **run_meta(mode, setup, started),
            "model_floor": setup.model_floor,
            "hot_path": setup.hot_path,
            "layers": bench.layers,
            "shadow_stats": shadow_stats,
            "notes": _notes(mode.name),
        },
        "rounds": bench.rounds,
        "propagation_raw": bench.propagation,
    }
    data["pooled_fixed"] = bench.pooled_latencies()
    data["computed"] = compute(bench.rounds, bench.propagation, data["pooled_fixed"], data["meta"])
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{mode.name}"
    report = markdown(data)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report)
    print(report)
    _say(f"reports: {stem}.md and {stem}.json ({data['meta']['elapsed_s']:.0f} s in all)")
    failed = sum(a["errors"] for r in bench.rounds for kind in ("closed", "fixed") for a in r[kind].values())
    if bench.propagation and bench.propagation["timeouts"]:
        failed += bench.propagation["timeouts"]
    if failed:
        _say(f"{failed} benchmark requests failed: the figures are not trustworthy")
        return 1
    if args.strict and any(t["status"] == "miss" for t in data["computed"]["targets"]):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
