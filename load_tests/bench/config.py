"""The benchmark's modes and arms: what runs, for how long, how many rounds."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["BATCH_ROWS", "CLOSED_ARMS", "FIXED_ARMS", "FRAMEWORK_ARMS", "FRAMEWORK_MODES", "MODES", "Mode"]

#: Closed-loop arms (throughput and CPU per request), in the order of the first round.
CLOSED_ARMS = (
    "echo",  # floor: bare Starlette JSON echo under uvicorn
    "bentoml-noop",  # floor: a BentoML endpoint that skips the model
    "bentoml",  # bare BentoML serving iris v1 (the baseline)
    "gw-stable",  # gateway, ack logging to Redis, stable only
    "gw-canary",  # gateway, ack logging to Redis, canary v2 at 10% (the headline configuration)
    "gw-shadow",  # gateway, ack logging to Redis, shadow v3 (a slower forest) on 100%, no canary
    "gw-async",  # gateway, async logging to Redis, canary v2 at 10%
    "gw-off",  # gateway, logging off (only when the gateway has that mode), canary v2 at 10%
    "gw-postgres",  # gateway, ack logging to PostgreSQL ($BENCH_POSTGRES_URL's server, a fresh database), canary 10%
    "gw-sink",  # gateway, ack logging to Redis, with `canaryline sink` draining it into PostgreSQL, canary 10%
    "mlserver",  # MLServer 1.7.1 + mlserver-sklearn, adaptive batching off (its default)
    "mlserver-batched",  # the same with adaptive batching on (32 rows, 2 ms)
    "replicas-1",  # one of three replicas sharing Redis (ack, canary 10%), alone
    "replicas-3",  # all three replicas at once, the same total connections
    "gw-batch100",  # the gateway (ack, canary 10%) with 100-row requests: cost per row
    "mlserver-batch100",  # MLServer with the same 100-row requests
)
#: Fixed-rate arms (latency percentiles), at half of MLServer's closed-loop throughput (its median so far;
#: bare BentoML's when MLServer is not run).
FIXED_ARMS = ("bentoml", "mlserver", "gw-stable", "gw-canary", "gw-shadow")
#: Rows per request in the ``*-batch100`` arms.
BATCH_ROWS = 100


@dataclass(frozen=True)
class Mode:
    name: str
    rounds: int
    closed_s: float
    fixed_s: float
    warmup_s: float
    changes: int  # rollbacks timed for propagation
    connections: int = 8  # per closed-loop target (replicas-3: a third each)
    closed_arms: tuple[str, ...] = CLOSED_ARMS
    fixed_arms: tuple[str, ...] = FIXED_ARMS
    replicas: int = 3
    #: An arm is run again (up to ``retries`` times, the quietest run kept) when other processes took more
    #: than ``noise_limit`` of the server core while it ran: this machine is shared.
    retries: int = 1
    noise_limit: float = 0.15

    def with_overrides(self, **changes: object) -> Mode:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


MODES = {
    "full": Mode("full", rounds=4, closed_s=6, fixed_s=12, warmup_s=2, changes=40, retries=2),
    "quick": Mode("quick", rounds=2, closed_s=3, fixed_s=4, warmup_s=1, changes=20, retries=1),
    "smoke": Mode(
        "smoke",
        rounds=1,
        closed_s=2,
        fixed_s=2,
        warmup_s=0.5,
        changes=3,
        closed_arms=("bentoml", "gw-canary"),
        fixed_arms=("bentoml", "gw-canary"),
        replicas=0,
        retries=0,
    ),
}

#: ``python -m load_tests.bench.frameworks``: the same model files behind the gateway (ack logging to Redis, stable
#: only) and behind MLServer's own runtime for its framework, one breast-cancer row a request.
FRAMEWORK_ARMS = (
    "gw-xgboost",  # gateway, OIP v2 (the very body MLServer gets), the XGBoost model
    "mlserver-xgboost",  # MLServer 1.7.1 + mlserver-xgboost, the same model file
    "gw-xgboost-native",  # gateway, its native POST /predict, the same row
    "gw-lightgbm",  # gateway, OIP v2, the LightGBM model
    "mlserver-lightgbm",  # MLServer 1.7.1 + mlserver-lightgbm, the same model file
    "gw-lightgbm-native",  # gateway, native POST /predict
)
FRAMEWORK_MODES = {
    "full": Mode(
        "full", rounds=5, closed_s=6, fixed_s=0, warmup_s=2, changes=0, closed_arms=FRAMEWORK_ARMS, fixed_arms=(),
        replicas=0, retries=2,
    ),
    "quick": Mode(
        "quick", rounds=3, closed_s=3, fixed_s=0, warmup_s=1, changes=0, closed_arms=FRAMEWORK_ARMS, fixed_arms=(),
        replicas=0, retries=1,
    ),
}  # fmt: skip
