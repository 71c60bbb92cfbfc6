"""The artifact store through fsspec/s3fs against a real S3-compatible server (moto_server): upload, pull and
verify, tampering refused, an unreachable endpoint keeping cached versions loadable."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import bentoml
import numpy as np
import pytest

from registry_client.errors import ArtifactIntegrityError, ArtifactUnavailableError
from registry_client.registry.artifact_store import ArtifactStore
from registry_client.registry.pull import ArtifactCache
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.object_store import MotoServer

pytestmark = pytest.mark.skipif(shutil.which("moto_server") is None, reason="moto[server] is not installed")


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def s3_registry(s3: MotoServer, sqlite_url: str) -> Iterator[Registry]:
    """A registry publishing to s3://artifacts/canaryline on the moto server."""
    store = ArtifactStore("s3://artifacts/canaryline", s3.options())
    store.fs.mkdir("artifacts")
    registry = Registry(
        open_store(sqlite_url),
        artifacts=store,
        cache=ArtifactCache(max_bytes=None, max_archive_bytes=None, options=s3.options()),
    )
    yield registry
    registry.store.close()


def test_a_version_goes_to_s3_and_a_node_lacking_it_pulls_it(
    s3_registry: Registry, model_name: str, iris_models, iris
) -> None:
    """The archive is an S3 object under the prefix, its digest recorded; after the local copy is gone the
    version is pulled back, verified and serves as registered."""
    record = s3_registry.register(model_name, iris_models["logreg"])
    assert record.artifact_uri.startswith(f"s3://artifacts/canaryline/{model_name}/v1/")
    assert s3_registry.artifacts is not None
    fs = s3_registry.artifacts.fs
    assert hashlib.sha256(fs.cat_file(record.artifact_uri)).hexdigest() == record.artifact_sha256
    bentoml.models.delete(record.tag)
    X, _ = iris
    np.testing.assert_array_equal(s3_registry.load(model_name, "v1").model.predict(X), iris_models["logreg"].predict(X))


def test_an_object_changed_in_s3_is_refused(s3_registry: Registry, model_name: str, iris_models) -> None:
    """Bytes overwritten in the bucket after registration: the pull names the archive digest mismatch."""
    record = s3_registry.register(model_name, iris_models["logreg"])
    assert s3_registry.artifacts is not None
    fs = s3_registry.artifacts.fs
    fs.pipe_file(record.artifact_uri, fs.cat_file(record.artifact_uri) + b"\0")
    bentoml.models.delete(record.tag)
    with pytest.raises(ArtifactIntegrityError, match="archive SHA-256 is"):
        s3_registry.load(model_name, "v1")


def test_an_unreachable_s3_endpoint_fails_the_pull_not_the_cached_version(
    s3: MotoServer, s3_registry: Registry, model_name: str, iris_models
) -> None:
    """With the server stopped, an uncached version names the store as unavailable; a cached one loads."""
    s3_registry.register(model_name, iris_models["logreg"])
    v2 = s3_registry.register(model_name, iris_models["tree"])
    bentoml.models.delete(v2.tag)
    s3.stop()
    s3_registry.cache.options = {
        **s3.options(),
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
    }
    with pytest.raises(ArtifactUnavailableError, match=r"version 'v2' is not cached here and cannot be pulled"):
        s3_registry.load(model_name, "v2")
    assert s3_registry.load(model_name, "v1").info.version == "v1"
