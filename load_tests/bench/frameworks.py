"""``python -m load_tests.bench.frameworks [--quick]``: the gateway vs MLServer's own XGBoost and LightGBM runtimes.

An XGBoost and a LightGBM classifier are trained on scikit-learn's breast-cancer data (:mod:`.boosters`),
registered with canaryline and served by one gateway (``ack`` logging to our Redis, stable only, as the main
benchmark's gateway arms run), and the same model files by one MLServer (mlserver-xgboost and
mlserver-lightgbm, pinned to the MLServer version of the main benchmark, in its virtualenv). The closed-loop
arms (:data:`.config.FRAMEWORK_ARMS`) are interleaved over rounds by the main benchmark's runner, with its
pinning, its wrk driving and its CPU accounting; the named-input validation cost is measured without HTTP
(:mod:`.named_cost`). Writes ``load_tests/reports/frameworks-{quick,full}.md`` and ``.json``.

Exits 1 when any benchmark request failed, 0 otherwise: a missed target is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import boosters, servers
from .bodies import gateway_bodies, v2_bodies, write_bodies
from .closed_loop import default_generator
from .config import FRAMEWORK_MODES, Mode
from .fleet import Arm, versions
from .framework_report import compute, markdown
from .named_cost import measure
from .runner import Bench, run_meta

__all__ = ["FrameworkBench", "main"]

HERE = Path(__file__).resolve().parent.parent


class FrameworkBench(Bench):
    """The main benchmark's runner over the framework arms: its own set-up, the same rounds and accounting."""

    mlserver_runtimes = ("xgboost", "lightgbm")

    def __init__(
        self,
        mode: Mode,
        workdir: Path,
        *,
        generator: str,
        mlserver_venv: Path | None,
        say: Callable[[str], None],
        named_rounds: int = 5,
        named_rows: int = 20_000,
    ) -> None:
        super().__init__(mode, workdir, generator=generator, mlserver_venv=mlserver_venv, say=say)
        self.named = (named_rounds, named_rows)
        self.agreement: dict[str, float] = {}  # framework → the largest difference of the servers' probabilities
        self.floors: dict[str, dict[str, float]] = {}  # framework → µs in each server's model calls
        self.named_inputs: dict[str, Any] = {}  # .named_cost.measure's figures

    def setup(self) -> None:
        started = time.monotonic()
        bentoml_home = self.begin()
        self.say("training XGBoost and LightGBM on breast_cancer; registering both with canaryline (v1, stable)")
        trained = boosters.train(self.workdir / "model-files")
        store = self._store_url(0)
        boosters.register(store, trained)
        binary = self.mlserver_binary()
        self.servers["gw-main"] = servers.gateway("gw-main", self.workdir, bentoml_home, store)
        if binary is not None:
            files = {t.name: (t.implementation, t.file) for t in trained.values()}
            self.servers["mlserver"] = servers.mlserver_files(binary, self.workdir, files)
        for server in self.servers.values():  # each server gets one core: one OpenMP thread (see _notes)
            server.env = {**server.env, "OMP_NUM_THREADS": "1"}
        self.launch()
        v2 = self._define(trained)
        if "mlserver" in self.servers:
            for framework, t in trained.items():
                self.agreement[framework] = boosters.agreement(
                    self.servers["gw-main"].url, self.servers["mlserver"].url, t.name, v2
                )
                if self.agreement[framework] > 1e-6:
                    self.say(f"warning: the servers' {framework} probabilities differ by {self.agreement[framework]}")
        self.say("the models' own calls, and named-input validation per row (in this process, on the load core)")
        self.floors = boosters.floors(store, trained)
        self.named_inputs = measure(*self.named)
        found = versions(binary)
        found.update({name: version(name) for name in ("xgboost", "lightgbm")})
        self.setup_info.versions = found
        self.setup_info.started_s = round(time.monotonic() - started, 1)
        self.say(f"set up in {self.setup_info.started_s} s: {', '.join(sorted(self.servers))}")

    def _define(self, trained: dict[str, boosters.Trained]) -> list[bytes]:
        """The arms of :data:`.config.FRAMEWORK_ARMS` the mode runs; returns the V2 bodies (the same for both
        models: MLServer's and the gateway's V2 endpoint both take them)."""
        rows = boosters.cancer_rows()
        v2 = v2_bodies(len(rows), source=rows)
        v2_file = write_bodies(self.workdir / "bodies-cancer-v2.txt", v2)
        gateway, redis = self.servers["gw-main"], self.redis is not None
        arms = {}
        for framework, t in trained.items():
            native = gateway_bodies(len(rows), model=t.name, source=rows)
            native_file = write_bodies(self.workdir / f"bodies-{t.name}.txt", native)
            infer = f"/v2/models/{t.name}/infer"
            arms[f"gw-{framework}"] = Arm(f"gw-{framework}", [gateway], infer, v2, v2_file, logs_to_redis=redis)
            arms[f"gw-{framework}-native"] = Arm(
                f"gw-{framework}-native", [gateway], "/predict", native, native_file, logs_to_redis=redis
            )
            if "mlserver" in self.servers:
                mlserver = self.servers["mlserver"]
                arms[f"mlserver-{framework}"] = Arm(f"mlserver-{framework}", [mlserver], infer, v2, v2_file)
            else:
                self.setup_info.skipped[f"mlserver-{framework}"] = self.setup_info.skipped.get(
                    "mlserver", "skipped: MLServer was not started"
                )
        for name, arm in arms.items():
            if name in self.mode.closed_arms:
                arm.connections = self.mode.connections
                self.arms[name] = arm
        return v2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench.frameworks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="mode",
        default="full",
        help="3 rounds of 3 s arms, about 2 minutes (default: full, 5 rounds of 6 s)",
    )
    parser.add_argument("--rounds", type=int, help="override the mode's number of rounds")
    parser.add_argument("--seconds", type=float, dest="closed_s", help="seconds per closed-loop arm")
    parser.add_argument("--warmup", type=float, dest="warmup_s", help="seconds of warm-up per arm (0: none)")
    parser.add_argument(
        "--arms",
        type=lambda v: tuple(a for a in v.split(",") if a),
        help="only these arms, comma-separated (gw-xgboost,mlserver-xgboost,…)",
    )
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto", help="closed-loop load")
    parser.add_argument("--no-mlserver", action="store_true", help="skip the MLServer arms")
    parser.add_argument(
        "--mlserver-venv",
        type=Path,
        default=HERE / ".venv-mlserver",
        help="MLServer's own virtualenv (made, or given the runtimes it lacks, on first use)",
    )
    parser.add_argument("--named-rounds", type=int, default=5, help="rounds of the named-input micro-benchmark")
    parser.add_argument("--named-rows", type=int, default=20_000, help="rows per arm and round in it")
    parser.add_argument("--out", type=Path, help="report directory (default load_tests/reports)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (server logs) afterwards")
    return parser  # fmt: skip


def _say(message: str) -> None:
    print(f"[frameworks {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _notes(mode: Mode) -> list[str]:
    return [
        f"models: XGBClassifier and LGBMClassifier, {boosters.TREES} trees of depth ≤ {boosters.DEPTH}, fitted on "
        "sklearn's breast_cancer (569 rows, 30 features) with random_state 0; registered with canaryline's Python "
        "API (XGBoost kept as its XGBClassifier, LightGBM as its Booster, as bentoml.lightgbm saves it), and the "
        "same fitted estimators written as the files MLServer reads (model.json, model.bst)",
        "gateway: `canaryline serve --workers 1`, ack logging to our Redis (its CPU counted in the gateway's CPU "
        "per request), both models stable only; the answer holds labels and class probabilities",
        f"MLServer {servers.MLSERVER_VERSION} + mlserver-xgboost + mlserver-lightgbm (same version) in one process: "
        "`parallel_workers: 0`, `debug: false` (no access log), adaptive batching off (its default), other "
        "settings default; the frameworks in its virtualenv are pinned to this environment's versions",
        "both servers load the same files with the same framework versions, and both run with OMP_NUM_THREADS=1: "
        "each is pinned to one core (core 0) once it is ready, and XGBoost's and LightGBM's OpenMP pools, sized for "
        "the two cores they started on, then spun against each other on it (without it, LightGBM cost 6-12 ms of "
        "CPU per request in both servers, against 0.4 ms for its calls in-process); wrk (-t1, Lua POST bodies) "
        "runs on core 1",
        "arms are interleaved in an order rotated each round; an arm is run again when other processes took more "
        f"than {100 * mode.noise_limit:.0f}% of core 0 while it ran (up to {mode.retries} time(s), the quietest run "
        "kept)",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r} as set on this machine, the same for every arm",
        f"mode {mode.name}: one run on a shared 2-core machine; only the ratios are meant to be compared",
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    mode = FRAMEWORK_MODES[args.mode].with_overrides(
        rounds=args.rounds, closed_s=args.closed_s, warmup_s=args.warmup_s, closed_arms=args.arms
    )
    generator = default_generator() if args.generator == "auto" else args.generator
    workdir = Path(tempfile.mkdtemp(prefix="canaryline-frameworks-"))
    started = time.monotonic()
    bench = FrameworkBench(
        mode,
        workdir,
        generator=generator,
        mlserver_venv=None if args.no_mlserver else args.mlserver_venv,
        say=_say,
        named_rounds=args.named_rounds,
        named_rows=args.named_rows,
    )
    _say(f"{mode.name} mode, working directory {workdir}, load generator {generator}")
    try:
        bench.setup()
        bench.run()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    setup = bench.setup_info
    meta: dict[str, Any] = {
        **run_meta(mode, setup, started),
        "agreement": bench.agreement,
        "model_floor": bench.floors,
        "named_inputs": bench.named_inputs,
        "notes": _notes(mode),
    }
    data = {"meta": meta, "rounds": bench.rounds, "computed": compute(bench.rounds, meta)}
    out = args.out or HERE / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"frameworks-{mode.name}"
    report = markdown(data)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report)
    print(report)
    _say(f"reports: {stem}.md and {stem}.json ({meta['elapsed_s']:.0f} s in all)")
    failed = sum(a["errors"] for r in bench.rounds for a in r["closed"].values())
    if failed:
        _say(f"{failed} benchmark requests failed: the figures are not trustworthy")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
