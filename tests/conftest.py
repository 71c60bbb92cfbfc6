"""Shared fixtures: real Redis, PostgreSQL and SQLite, real scikit-learn models, real gateway processes."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# BentoML reads BENTOML_HOME once, when first imported: give the whole session its own model store.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="canaryline-tests-"))
os.environ["BENTOML_HOME"] = str(_SESSION_HOME / "bentoml")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import psycopg  # noqa: E402
import redis  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from registry_client.registry.registry import Registry  # noqa: E402
from registry_client.store import Store, open_store  # noqa: E402
from tests.support.servers import GATEWAYS, LOADED_TIMEOUT_S, GatewayProcess, PostgresServer, RedisServer  # noqa: E402
from tests.support.tokens import ADMIN_TOKEN, TOKEN_ENV  # noqa: E402

__all__ = ["ADMIN_TOKEN"]  # re-exported for the tests that import it from here
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# These machines are shared and loaded: a property test must not fail because an example was slow, and the
# same examples run every time (a failure is reproducible, never a coin toss). HYPOTHESIS_PROFILE=explore
# searches with fresh random examples instead.
settings.register_profile(
    "canaryline", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "canaryline"))


@pytest.fixture(scope="session")
def session_home() -> Path:
    return _SESSION_HOME


@pytest.fixture(scope="session")
def redis_url(session_home: Path) -> Iterator[str]:
    """$REDIS_URL when set, else a throwaway redis-server; under CI=true a missing Redis fails."""
    url = os.environ.get("REDIS_URL")
    server: RedisServer | None = None
    if not url:
        try:
            server = RedisServer(session_home / "redis").start()
            url = server.url
        except (FileNotFoundError, TimeoutError) as exc:
            if IN_CI:
                pytest.fail(f"Redis is required under CI=true and could not be started: {exc}")
            pytest.skip(f"no Redis: set REDIS_URL or install redis-server ({exc})")
    try:
        with redis.Redis.from_url(url) as probe:  # closed here: a dropped client is freed only by a later
            probe.ping()  # gc pass (its pool is a cycle), whose ResourceWarning then fails some other test
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {url} is required under CI=true and does not answer: {exc}")
        pytest.skip(f"Redis at {url} does not answer: {exc}")
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """$CANARYLINE_TEST_POSTGRES_URL when set, else a throwaway cluster (initdb + pg_ctl on a free port);
    under CI=true a missing PostgreSQL fails."""
    url = os.environ.get("CANARYLINE_TEST_POSTGRES_URL")
    server: PostgresServer | None = None
    if not url:
        try:
            server = PostgresServer().start()
            url = server.url
        except (FileNotFoundError, RuntimeError, OSError) as exc:
            if IN_CI:
                pytest.fail(f"PostgreSQL is required under CI=true and could not be started: {exc}")
            pytest.skip(f"no PostgreSQL: set CANARYLINE_TEST_POSTGRES_URL or install postgresql ({exc})")
    yield url
    if server is not None:
        server.stop()
        server.remove()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test Redis, flushed before and after each test: a test that used ``redis_url`` alone may
    have left keys, and a reader of every stream (the sink) would take them for its own."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database on the test PostgreSQL, dropped after the test."""
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store backend in turn: the contract suites run against all three."""
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    elif request.param == "redis":
        request.getfixturevalue("redis_client")  # flushed after the test
        opened = open_store(request.getfixturevalue("redis_url"))
    else:
        # a database of its own, dropped after; a timeout for a loaded machine (the contract is not about it)
        opened = open_store(request.getfixturevalue("postgres_db"), timeout_s=LOADED_TIMEOUT_S)
    yield opened
    opened.close()


@pytest.fixture
def model_name() -> str:
    """A model name no other test uses (the BentoML model store is shared by the session)."""
    return f"m{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def iris() -> tuple[object, object]:
    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def iris_models(iris) -> dict[str, object]:
    X, y = iris
    return {
        "logreg": LogisticRegression(max_iter=500).fit(X, y),
        "logreg_c01": LogisticRegression(C=0.1, max_iter=500).fit(X, y),
        "tree": DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y),
    }


@pytest.fixture(scope="session")
def diabetes_ridge() -> object:
    X, y = load_diabetes(return_X_y=True)
    return Ridge(alpha=1.0).fit(X, y)


@pytest.fixture
def sqlite_registry(sqlite_url: str) -> Iterator[Registry]:
    registry = Registry(open_store(sqlite_url))
    yield registry
    registry.store.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed test's report carries the tail of every gateway log it started (its workers' own lines)."""
    report = yield
    if report.failed:
        for gateway in item.stash.get(GATEWAYS, []):
            report.sections.append((f"gateway log {gateway.logfile.name} (tail)", gateway.log()[-6000:]))
    return report


@pytest.fixture
def gateway_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Start real `canaryline serve` processes; all are stopped after the test (a failure shows their logs)."""
    started: list[GatewayProcess] = request.node.stash.setdefault(GATEWAYS, [])

    def start(store_url: str, *, workers: int = 1, ready: bool = True, **settings: str) -> GatewayProcess:
        env = {
            "BENTOML_HOME": os.environ["BENTOML_HOME"],
            "CANARYLINE_STORE": store_url,
            "CANARYLINE_HOME": str(tmp_path / "home"),
            **TOKEN_ENV,
            **{f"CANARYLINE_{k.upper()}": v for k, v in settings.items()},
        }
        gateway = GatewayProcess(env=env, logfile=tmp_path / f"gateway-{len(started)}.log", workers=workers)
        started.append(gateway)
        return gateway.start(ready=ready)

    yield start
    for gateway in started:
        gateway.stop()
