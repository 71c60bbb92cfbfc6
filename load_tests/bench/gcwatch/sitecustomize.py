"""Put on benchmarked servers' PYTHONPATH: log every garbage-collection pause of 5 ms or more.

One line per pause, appended to ``$BENCH_GC_LOG``: wall time, pid, generation, milliseconds of wall time,
milliseconds of the collecting thread's CPU time, objects collected, objects in the oldest generation
(what a full collection walks) and in the permanent one (``gc.freeze()``, which none walks). Wall
time includes being preempted by other processes on a shared core; CPU time says what the collection
itself cost. It costs two clock reads per collection, and lets the benchmark tell how much of a
fixed-rate arm's tail latency the server spent collecting garbage. Any ``sitecustomize`` this one
shadows is run afterwards.
"""

import gc
import os
import runpy
import sys
import time

_LOG = os.environ.get("BENCH_GC_LOG")
_started = [0.0, 0.0]


def _watch(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
        _started[1] = time.thread_time()
        return
    paused_ms = (time.perf_counter() - _started[0]) * 1000.0
    if paused_ms >= 5.0:
        cpu_ms = (time.thread_time() - _started[1]) * 1000.0
        with open(_LOG, "a") as log:
            log.write(
                f"{time.time():.3f} {os.getpid()} {info['generation']} {paused_ms:.1f} {cpu_ms:.1f} "
                f"{info['collected']} {len(gc.get_objects(2))} {gc.get_freeze_count()}\n"
            )


if _LOG:
    gc.callbacks.append(_watch)

_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    _next = os.path.join(_entry, "sitecustomize.py")
    if os.path.abspath(_entry or ".") != _here and os.path.isfile(_next):
        runpy.run_path(_next, run_name="sitecustomize")
        break
