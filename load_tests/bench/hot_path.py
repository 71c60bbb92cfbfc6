"""``python -m load_tests.bench.hot_path``: the data plane's own CPU per request, without HTTP.

One process, no server: a real runtime (SQLite store, iris v1 stable and v2 a sticky 10% canary, verified
model artifacts) built by :func:`service.composition.build_runtime`, and the request side of
:func:`service.rest.http.serve_inference` called in a loop on one event loop: parse and validate the body,
route, bind the log context, predict (through the per-version batcher), check the outputs, stamp, enqueue the
record, count the metrics, render the JSON answer. Arms, interleaved over rounds (the best round of each is
reported: on a shared machine other processes only ever add to a CPU time, so the floor is the figure):

- ``model``: the baseline, the model's own calls as the data plane makes them (``ServingVersion.predict``:
  one ``np.asarray``, ``predict`` and ``predict_proba``), one per version among the requests in flight
  together, as the per-version batcher stacks them and as the sticky 10% canary routes each body;
- ``dataplane-off``: the whole request side with logging off;
- ``dataplane-async``: the same, the record handed to the log writer (its thread's CPU is counted apart);
- ``dataplane-ack``: the same, each request waiting for its record's acknowledgement (SQLite group commit);
- ``harness``: this loop alone (a task per request in flight, as the server runs them; no work).

"Ours" is an arm's CPU on the request thread minus the model's and the harness's: the code of canaryline
itself. Target: under 50 µs. CPU is ``time.thread_time`` of the request thread (the writer thread's, from
``time.process_time``, is shown apart), so other processes on this shared machine disturb it little.
``--profile FILE`` writes a cProfile of one arm (``--profile-arm``, default ``dataplane-async``) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import structlog

__all__ = ["main"]

TARGET_US = 50.0
Call = Callable[[list[bytes]], Awaitable[Any]]


def _runtime(home: Path, mode: str) -> Any:
    from registry_client.settings import GatewaySettings
    from service.composition import build_runtime

    store = f"sqlite:///{home / 'store.db'}"
    tokens = {name: f"hot-path-{name}-0123" for name in ("admin_token", "read_token", "feedback_token")}
    settings = GatewaySettings(store=store, home=home / mode, log_mode=mode, log_level="warning", **tokens)
    return build_runtime(settings)


def _register(home: Path) -> None:
    from load_tests.models import IRIS, register_models
    from registry_client.control import ControlPlane
    from registry_client.registry.registry import Registry
    from registry_client.store import open_store

    url = f"sqlite:///{home / 'store.db'}"
    register_models(url, wine=False)
    control = ControlPlane(Registry(open_store(url)))
    control.set_canary(IRIS, "v2", weight=10, sticky=True, actor="bench", reason="hot path", expected_revision=None)


def _request_side(runtime: Any) -> Call:
    """The request side of ``serve_inference`` for ``POST /predict``, without the HTTP parts."""
    from service.dataplane.validation import parse_predict
    from service.rest.http import json_response, stamp_headers

    gateway = runtime.gateway
    max_batch = gateway.settings.max_batch
    clear = structlog.contextvars.clear_contextvars
    counter = iter(range(1 << 62))

    async def one(body: bytes) -> Any:
        clear()  # each HTTP request runs on a fresh copy of the context
        recorder = gateway.metrics.request()
        request_id = f"hot-path-{next(counter)}"
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=None)
        request = parse_predict(body, max_batch=max_batch)
        result = await gateway.predict(request, request_id=request_id, pin=None, trace_id=None, recorder=recorder)
        response = json_response(result.body(), headers=stamp_headers(result))
        recorder.answered(200)
        return response

    async def call(bodies: list[bytes]) -> Any:
        if len(bodies) == 1:
            return await one(bodies[0])
        # each in a task of its own, on a copy of the context, as the server runs requests
        return await asyncio.gather(*(one(body) for body in bodies))

    return call


def _model_call(runtime: Any, bodies: list[bytes]) -> Call:
    """The model calls the data plane makes: one per version among the requests in flight together (the
    per-version batcher's), each version as the sticky routing sends each body (decided once, up front)."""
    from service.dataplane.routing import choose

    active = runtime.gateway.plans.get("iris")
    version_of = {
        body: active.versions[
            choose(active.plan, pin=None, key=orjson.loads(body)["routing_key"], draw=lambda: 0.5).version
        ]
        for body in bodies
    }

    async def call(group: list[bytes]) -> Any:
        rows_by_version: dict[Any, list[list[float]]] = {}
        for body in group:
            rows_by_version.setdefault(version_of[body], []).extend(orjson.loads(body)["inputs"])
        return [serving.predict(rows) for serving, rows in rows_by_version.items()]

    return call


async def _measure(call: Call, bodies: list[bytes], n: int, concurrency: int = 1) -> tuple[float, float]:
    """(request-thread CPU µs per call, whole-process CPU µs per call) over ``n`` calls, ``concurrency`` at a
    time (as a server under load has them: they meet in the batcher and in the log's hand-over)."""
    thread0, process0 = time.thread_time(), time.process_time()
    for start in range(0, n, concurrency):
        await call([bodies[i % len(bodies)] for i in range(start, start + concurrency)])
    thread1 = time.thread_time()
    await asyncio.sleep(0.05)  # let the writer thread finish the last batch before reading the process's CPU
    process1 = time.process_time()
    return (thread1 - thread0) / n * 1e6, (process1 - process0) / n * 1e6


def _harness() -> Call:
    """What this loop costs with no request work: a task per request in flight (as the server runs them)."""

    async def nothing(_body: bytes) -> None:
        return None

    async def call(bodies: list[bytes]) -> Any:
        if len(bodies) == 1:
            return await nothing(bodies[0])
        return await asyncio.gather(*(nothing(body) for body in bodies))

    return call


def _arms(runtimes: dict[str, Any], bodies: list[bytes]) -> dict[str, Call]:
    arms = {"harness": _harness(), "model": _model_call(runtimes["off"], bodies)}
    for mode, runtime in runtimes.items():
        arms[f"dataplane-{mode}"] = _request_side(runtime)
    return arms


async def _run(
    runtimes: dict[str, Any], bodies: list[bytes], rounds: int, n: int, concurrency: int
) -> dict[str, dict[str, Any]]:
    arms = _arms(runtimes, bodies)
    for call in arms.values():  # warm-up: caches, batchers, metric children
        await _measure(call, bodies, min(n, 500), concurrency)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
    names = list(arms)
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(await _measure(arms[name], bodies, n, concurrency))
    return {
        name: {
            "thread_us": round(min(t for t, _ in values), 1),
            "process_us": round(min(p for _, p in values), 1),
            "per_round_thread_us": [round(t, 1) for t, _ in values],
        }
        for name, values in samples.items()
    }


def _report(results: dict[str, dict[str, Any]], rounds: int, n: int, concurrency: int) -> str:
    harness = results["harness"]["thread_us"]
    model = results["model"]["thread_us"]
    floor = model + harness
    lines = [
        f"hot path without HTTP: best of {rounds} interleaved rounds x {n} requests, {concurrency} at a time, one "
        "iris row each (CPU time; measured on a shared machine: compare within this run)",
        "",
        "| arm | request thread µs/req | + log writer thread µs/req | ours (minus model and harness) µs/req "
        "| × model | per round |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    baselines = ("harness", "model")
    for name, figures in results.items():
        thread, process = figures["thread_us"], figures["process_us"]
        ours = "" if name in baselines else f"{thread - floor:.1f}"
        writer = f"{max(process - thread, 0.0):.1f}"
        per_round = ", ".join(f"{v:.0f}" for v in figures["per_round_thread_us"])
        lines.append(f"| {name} | {thread:.1f} | {writer} | {ours} | {thread / model:.2f} | {per_round} |")
    worst = max(results[name]["thread_us"] - floor for name in results if name not in baselines)
    verdict = "pass" if worst < TARGET_US else "miss"
    lines += ["", f"target: our own code under {TARGET_US:.0f} µs per request (worst arm {worst:.1f} µs): {verdict}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench.hot_path", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=3000, help="requests per arm and round")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once (8: like wrk -c8)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one arm (--profile-arm) here and stop")
    parser.add_argument("--profile-arm", default="dataplane-async", help="the arm --profile runs")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file (for load_tests.bench)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="canaryline-hot-path-") as tmp:
        home = Path(tmp)
        os.environ["BENTOML_HOME"] = str(home / "bentoml")
        os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
        _register(home)
        from load_tests.bench.bodies import gateway_bodies

        bodies = gateway_bodies()
        runtimes = {mode: _runtime(home, mode) for mode in ("off", "async", "ack")}
        try:
            if args.profile is not None:
                call = _arms(runtimes, bodies)[args.profile_arm]
                asyncio.run(_measure(call, bodies, 500, args.concurrency))
                profiler = cProfile.Profile()
                profiler.runcall(asyncio.run, _measure(call, bodies, args.n, args.concurrency))
                profiler.dump_stats(args.profile)
                return 0
            results = asyncio.run(_run(runtimes, bodies, args.rounds, args.n, args.concurrency))
        finally:
            for runtime in runtimes.values():
                runtime.close()
    report = _report(results, args.rounds, args.n, args.concurrency)
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(_figures(results, args.rounds, args.n, args.concurrency)))
    return 0


def _figures(results: dict[str, dict[str, Any]], rounds: int, n: int, concurrency: int) -> dict[str, Any]:
    floor = results["model"]["thread_us"] + results["harness"]["thread_us"]
    ours = {name: round(f["thread_us"] - floor, 1) for name, f in results.items() if name not in ("harness", "model")}
    return {
        "rounds": rounds,
        "requests": n,
        "concurrency": concurrency,
        "arms": results,
        "ours_us": ours,
        "worst_ours_us": max(ours.values()),
        "target_us": TARGET_US,
    }


if __name__ == "__main__":
    sys.exit(main())
