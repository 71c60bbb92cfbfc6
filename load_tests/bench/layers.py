"""``python -m load_tests.bench.layers``: where one gateway worker's CPU goes, by layer, from a py-spy profile.

Starts Redis and one gateway (ack logging, iris v1 stable and v2 a sticky 10% canary, the benchmark's
settings), pins the worker and Redis to core 0, drives it with ``wrk -t1 -c8`` from core 1, and records the
worker with ``py-spy record --gil`` (samples of whichever thread holds the GIL). Each sample goes to the
deepest layer on its stack:

- **model**: ``ServingVersion.predict`` and below (NumPy, scikit-learn);
- **log**: the prediction log (``service/prediction_log``: the hand-over, the writer thread, the store's
  Redis client below it);
- **data plane**: the rest of ``service/dataplane`` (routing, validation, stamping, batching, the record);
- **our HTTP layer**: ``service/rest`` and ``service/observability`` (our middlewares, handlers, metrics,
  the span we open);
- **BentoML machinery**: uvicorn and its HTTP parser, the event loop, BentoML's and Starlette's middleware
  and routing, OpenTelemetry's middleware.

A frame of a library of neither kind (Starlette's responses, orjson, structlog, prometheus_client,
redis-py, the standard library) counts for the layer of its nearest caller that has one.

The shares times the worker's CPU per request (from ``/proc`` over the same window, Redis's apart) give
µs per request per layer. ``--seconds`` (default 12) of load; py-spy and wrk must be installed
(``pip install py-spy``, ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from load_tests.models import register_models
from load_tests.processes import cpu_seconds, redis_server

from . import servers
from .bodies import gateway_bodies, write_bodies
from .closed_loop import Target, run_closed_loop
from .plans import MainPlan

__all__ = ["LAYERS", "classify", "main", "shares_of"]

LAYERS = ("BentoML machinery", "our HTTP layer", "data plane", "model", "log")
#: Where a frame belongs (py-spy shows paths from the package root). Frames of neither kind (Starlette's
#: responses, orjson, structlog, prometheus_client, redis-py, the standard library) count for their caller.
_OURS = (
    ("service/dataplane/model_pool.py", "model"),
    ("service/prediction_log/", "log"),
    ("registry_client/store/", "log"),
    ("service/dataplane/", "data plane"),
    ("service/rest/", "our HTTP layer"),
    ("service/observability/", "our HTTP layer"),
)
_MACHINERY = (
    "bentoml/",
    "_bentoml_impl/",
    "_bentoml_sdk/",
    "uvicorn/",
    "uvloop/",
    "asgi/__init__.py",  # OpenTelemetry's ASGI middleware
    "starlette/middleware/",
    "starlette/routing.py",
    "starlette/applications.py",
    "starlette/_exception_handler.py",
    "asyncio/",
    "anyio/",
    "h11/",
    "httptools/",
)


def classify(stack: str) -> str:
    """The layer of one py-spy raw sample (frames root first, separated by ``;``): the model when
    ``ServingVersion.predict`` is on the stack, else the layer of the deepest frame that has one."""
    frames = stack.split(";")
    if any("ServingVersion.predict (" in frame for frame in frames):
        return "model"
    for frame in reversed(frames):
        for fragment, layer in _OURS:
            if fragment in frame:
                return layer
        if any(fragment in frame for fragment in _MACHINERY):
            return LAYERS[0]
    return LAYERS[0]


def shares_of(raw: Path) -> Counter[str]:
    """Samples per layer in a py-spy ``raw`` file."""
    shares: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            shares[classify(stack)] += int(count)
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench.layers", description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    work = Path(tempfile.mkdtemp(prefix="canaryline-layers-"))
    os.environ["BENTOML_HOME"] = str(work / "bentoml")
    redis = redis_server(work / "redis").start().wait_ready(30)
    gateway = None
    try:
        register_models(f"{redis.url}/0", wine=False)
        gateway = servers.gateway("gw", work, work / "bentoml", f"{redis.url}/0").start().wait_ready(240)
        plan = MainPlan(gateway.url, servers.ADMIN_TOKEN)
        plan.to("canary")
        plan.close()
        worker = max(gateway.pids())  # the BentoML worker: the newest process of the tree
        for server in (gateway, redis):
            server.pin({0})
        os.sched_setaffinity(0, {1})
        target = [Target(gateway.url, "/predict", write_bodies(work / "bodies.txt", gateway_bodies()))]
        run_closed_loop(target, seconds=3, connections=8, generator="wrk")  # warm-up
        raw = work / "profile.txt"
        record = [py_spy, "record", "--gil", "--nonblocking", "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
        spy = subprocess.Popen(
            [*record, "-d", str(int(args.seconds)), "--pid", str(worker)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cpu0, redis0 = cpu_seconds(gateway.pids()), cpu_seconds(redis.pids())
        result = run_closed_loop(target, seconds=args.seconds, connections=8, generator="wrk")
        cpu1, redis1 = cpu_seconds(gateway.pids()), cpu_seconds(redis.pids())
        spy.wait(timeout=args.seconds + 60)
        shares = shares_of(raw)
    finally:
        if gateway is not None:
            gateway.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    per_request = (cpu1 - cpu0) / max(result.ok, 1) * 1e6
    total = sum(shares.values()) or 1
    lines = [
        f"CPU per request by layer, one gateway worker (ack logging to Redis, 10% canary) under wrk -t1 -c8 for "
        f"{args.seconds:g} s: {result.throughput:.0f} req/s, {per_request:.0f} µs CPU/req in the gateway's tree "
        f"(+{(redis1 - redis0) / max(result.ok, 1) * 1e6:.0f} µs Redis); {total} py-spy samples holding the GIL "
        "(measured on a shared machine)",
        "",
        "| layer | share of samples | µs/req |",
        "| --- | ---: | ---: |",
    ]
    lines += [
        f"| {layer} | {shares[layer] / total:.1%} | {shares[layer] / total * per_request:.0f} |" for layer in LAYERS
    ]
    report = "\n".join(lines)
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")
    return 0 if result.ok and not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
