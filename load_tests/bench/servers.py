"""How each benchmarked server is started: the floors, bare BentoML, the gateway and MLServer (scikit-learn,
XGBoost and LightGBM runtimes)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from load_tests.processes import Server, free_port, http_ok

__all__ = [
    "ADMIN_TOKEN",
    "MLSERVER_VERSION",
    "bare_bento",
    "echo",
    "ensure_mlserver",
    "gateway",
    "mlserver",
    "mlserver_files",
]

REPO = Path(__file__).resolve().parents[2]
# The throwaway gateways' tokens, on loopback only (each at least 16 characters, as the gateway demands).
ADMIN_TOKEN = "bench-admin-token"  # noqa: S105
READ_TOKEN = "bench-read-token-0"  # noqa: S105
FEEDBACK_TOKEN = "bench-feedback-token"  # noqa: S105
MLSERVER_VERSION = "1.7.1"
_BIN = Path(sys.executable).parent


def echo(workdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "load_tests.apps.echo:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--no-access-log", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    return Server("echo", argv, http_ok(url + "/healthz"), workdir / "echo.log", url=url, cwd=REPO)


def bare_bento(workdir: Path, bentoml_home: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bentoml", "serve", "load_tests.apps.bare_bento:BareIris"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env = {"BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true", "BENCH_MODEL_TAG": "iris:v1"}
    url = f"http://127.0.0.1:{port}"
    return Server("bentoml", argv, http_ok(url + "/readyz"), workdir / "bentoml.log", url=url, env=env, cwd=REPO)


def gateway(
    name: str, workdir: Path, bentoml_home: Path, store_url: str, *, log_mode: str = "ack", **settings: str
) -> Server:
    """``canaryline serve`` with one worker, its own CANARYLINE_HOME, logging to ``store_url``; ``settings`` are
    more ``CANARYLINE_*`` variables (``max_concurrency="64"``)."""
    port = free_port()
    argv = [str(_BIN / "canaryline"), "serve", "--port", str(port), "--workers", "1"]
    env = {
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CANARYLINE_HOME": str(workdir / name),
        "CANARYLINE_STORE": store_url,
        "CANARYLINE_ADMIN_TOKEN": ADMIN_TOKEN,
        "CANARYLINE_READ_TOKEN": READ_TOKEN,
        "CANARYLINE_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
        "CANARYLINE_LOG_MODE": log_mode,
        **{f"CANARYLINE_{key.upper()}": value for key, value in settings.items()},
    }
    url = f"http://127.0.0.1:{port}"
    return Server(name, argv, http_ok(url + "/readyz"), workdir / f"{name}.log", url=url, env=env, cwd=REPO)


def ensure_mlserver(venv: Path, runtimes: tuple[str, ...] = ()) -> Path:
    """MLServer in its own virtualenv (its pins conflict with BentoML's); returns its ``mlserver`` binary.

    mlserver-sklearn is always there; ``runtimes`` (``"xgboost"``, ``"lightgbm"``) adds MLServer's own runtime for
    each, installed into an existing virtualenv when it lacks it. Every framework is pinned to this environment's
    version, so a model file written here loads the same there. Raises RuntimeError with pip's last words when
    it cannot be installed.
    """
    binary = venv / "bin" / "mlserver"
    missing = [name for name in runtimes if not list(venv.glob(f"lib/python*/site-packages/mlserver_{name}"))]
    if binary.exists() and not missing:
        return binary
    from importlib.metadata import version

    base = getattr(sys, "_base_executable", sys.executable)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps: list[list[str]] = [] if binary.exists() else [[base, "-m", "venv", str(venv)]]
    pins = [] if binary.exists() else [f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}"]
    pins += [f"scikit-learn=={version('scikit-learn')}"]
    for name in missing:
        pins += [f"mlserver-{name}=={MLSERVER_VERSION}", f"{name}=={version(name)}"]
    steps.append([*pip, *pins])
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])}… failed: {(done.stderr or done.stdout)[-600:]}")
    return binary


def _mlserver_server(binary: Path, root: Path, models: dict[str, dict[str, Any]], probe_model: str) -> Server:
    """MLServer in-process (``parallel_workers: 0``), access log off, serving ``models``: each name's
    ``model-settings.json`` beyond its name (its model file already in ``root / name``)."""
    port = free_port()
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,
    }
    for name, model_settings in models.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model-settings.json").write_text(json.dumps({"name": name, **model_settings}))
    (root / "settings.json").write_text(json.dumps(settings))
    url = f"http://127.0.0.1:{port}"
    probe = http_ok(f"{url}/v2/models/{probe_model}/ready")
    return Server(root.name, [str(binary), "start", str(root)], probe, root.with_suffix(".log"), url=url, cwd=root)


def mlserver(binary: Path, workdir: Path, model: Any) -> Server:
    """MLServer + mlserver-sklearn serving ``model``: two models over the same artifact, ``iris`` (adaptive
    batching off, MLServer's default) and ``iris-batched`` (``max_batch_size`` 32, ``max_batch_time`` 2 ms)."""
    import joblib

    root = workdir / "mlserver"
    models: dict[str, dict[str, Any]] = {}
    for name, batching in (("iris", {}), ("iris-batched", {"max_batch_size": 32, "max_batch_time": 0.002})):
        (root / name).mkdir(parents=True, exist_ok=True)
        joblib.dump(model, root / name / "model.joblib")
        models[name] = {
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v1"},
            **batching,
        }
    return _mlserver_server(binary, root, models, "iris-batched")


def mlserver_files(binary: Path, workdir: Path, files: dict[str, tuple[str, Path]]) -> Server:
    """MLServer serving each ``name: (implementation, model file)`` with that runtime
    (``mlserver_xgboost.XGBoostModel``, ``mlserver_lightgbm.LightGBMModel``), adaptive batching off (its
    default); each file is copied into its model's folder."""
    root = workdir / "mlserver-frameworks"
    models: dict[str, dict[str, Any]] = {}
    for name, (implementation, path) in files.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / name / path.name)
        models[name] = {"implementation": implementation, "parameters": {"uri": f"./{path.name}", "version": "v1"}}
    return _mlserver_server(binary, root, models, next(iter(files)))
