"""The artifact store on file:// (a real folder): registering uploads the archive, a node lacking the version
pulls and verifies it against the store's record, tampering and an unreachable store are refused, and a
registration that fails leaves neither a record nor an archive."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import bentoml
import numpy as np
import pytest
import yaml

from registry_client.errors import (
    ArtifactIntegrityError,
    ArtifactUnavailableError,
    StoreError,
    VersionExistsError,
    VersionInUseError,
)
from registry_client.registry.artifact_store import ArtifactStore
from registry_client.registry.artifacts import digest_files, read_artifact
from registry_client.registry.local_models import bento_model
from registry_client.registry.pull import ArtifactCache
from registry_client.registry.registry import Registry
from registry_client.store import open_store


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    return folder


@pytest.fixture
def fleet(sqlite_url: str, artifacts: Path) -> Iterator[Registry]:
    """A registry over a SQLite store whose versions are published to a file:// artifact store."""
    registry = Registry(open_store(sqlite_url), artifacts=ArtifactStore(f"file://{artifacts}"))
    yield registry
    registry.store.close()


def archives(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.bentomodel"))


def forget_locally(model: str, version: str) -> None:
    """This node loses its copy: the next load must pull it."""
    bentoml.models.delete(f"{model}:{version}")


def test_registering_uploads_the_archive_and_records_its_digest(
    fleet: Registry, artifacts: Path, model_name: str, iris_models
) -> None:
    """The record names the uploaded archive under <model>/<version>/ with the SHA-256 of its bytes."""
    record = fleet.register(model_name, iris_models["logreg"], data_version="batch-7", actor="ci@runner")
    [archive] = archives(artifacts)
    assert archive.parent == artifacts / model_name / "v1"
    assert record.artifact_uri == f"file://{archive}"
    assert record.artifact_sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert fleet.get(model_name, "v1") == record and record.created_by == "ci@runner"
    assert [(e.action, e.actor) for e in fleet.events(model_name)] == [("register", "ci@runner")]


def test_a_node_lacking_the_version_pulls_verifies_and_serves_it(
    fleet: Registry, model_name: str, iris_models, iris
) -> None:
    """After the local copy is gone, load pulls the archive, imports it and predicts as the original."""
    fleet.register(model_name, iris_models["logreg"])
    forget_locally(model_name, "v1")
    X, _ = iris
    loaded = fleet.load(model_name, "v1")
    np.testing.assert_array_equal(loaded.model.predict(X), iris_models["logreg"].predict(X))
    assert bento_model(model_name, "v1") is not None


def test_a_tampered_archive_is_refused_before_it_is_unpacked(
    fleet: Registry, artifacts: Path, model_name: str, iris_models
) -> None:
    """Bytes changed in the artifact store after registration: the pull names the digest mismatch and imports
    nothing."""
    fleet.register(model_name, iris_models["logreg"])
    forget_locally(model_name, "v1")
    [archive] = archives(artifacts)
    archive.write_bytes(archive.read_bytes() + b"\0")
    with pytest.raises(ArtifactIntegrityError, match=rf"model '{model_name}' version 'v1': archive SHA-256 is"):
        fleet.load(model_name, "v1")
    assert bento_model(model_name, "v1") is None


def test_local_files_are_checked_against_the_store_record_not_their_own_model_yaml(
    fleet: Registry, model_name: str, iris_models, iris
) -> None:
    """Files swapped here together with model.yaml's digest still differ from the store's record: the copy is
    replaced by a fresh pull of the registered archive, which serves the registered model."""
    fleet.register(model_name, iris_models["logreg"])
    folder = Path(bentoml.models.get(f"{model_name}:v1").path)
    bentoml.sklearn.save_model(f"{model_name}-other:v1", iris_models["tree"])
    other = Path(bentoml.models.get(f"{model_name}-other:v1").path)
    (folder / "saved_model.pkl").write_bytes((other / "saved_model.pkl").read_bytes())
    meta = yaml.safe_load((folder / "model.yaml").read_text())
    meta["metadata"]["sha256"] = digest_files(read_artifact(folder))
    (folder / "model.yaml").write_text(yaml.safe_dump(meta))
    X, _ = iris
    loaded = fleet.load(model_name, "v1")
    np.testing.assert_array_equal(loaded.model.predict(X), iris_models["logreg"].predict(X))


def test_without_an_artifact_store_swapped_local_files_are_refused(
    sqlite_registry: Registry, model_name: str, iris_models
) -> None:
    """A version only in the local BentoML store, whose files and model.yaml were both changed: refused, since
    the store's record keeps the registered digest."""
    record = sqlite_registry.register(model_name, iris_models["logreg"])
    assert record.artifact_uri == f"bentoml:{model_name}:v1" and record.artifact_sha256 is None
    folder = Path(bentoml.models.get(f"{model_name}:v1").path)
    (folder / "saved_model.pkl").write_bytes((folder / "saved_model.pkl").read_bytes() + b"x")
    meta = yaml.safe_load((folder / "model.yaml").read_text())
    meta["metadata"]["sha256"] = "0" * 64
    (folder / "model.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ArtifactIntegrityError, match=rf"registered {record.sha256[:12]}"):
        sqlite_registry.load(model_name, "v1")


def test_an_unreachable_artifact_store_fails_the_pull_and_cached_versions_still_load(
    fleet: Registry, artifacts: Path, model_name: str, iris_models
) -> None:
    """With the artifact folder gone, an uncached version names the store and what failed; a cached one loads."""
    fleet.register(model_name, iris_models["logreg"])
    fleet.register(model_name, iris_models["tree"])
    forget_locally(model_name, "v2")
    artifacts.rename(artifacts.with_name("moved"))
    with pytest.raises(ArtifactUnavailableError, match=r"artifact store file://.*unavailable.*FileNotFoundError") as e:
        fleet.load(model_name, "v2")
    assert e.value.status == 503
    assert fleet.load(model_name, "v1").info.version == "v1"


def test_an_existing_version_leaves_the_first_archive_alone(
    fleet: Registry, artifacts: Path, model_name: str, iris_models
) -> None:
    """Registering v1 again is refused before uploading: one archive, the first record."""
    first = fleet.register(model_name, iris_models["logreg"], version="v1")
    with pytest.raises(VersionExistsError):
        fleet.register(model_name, iris_models["tree"], version="v1")
    assert archives(artifacts) == [Path(first.artifact_uri.removeprefix("file://"))]
    assert fleet.get(model_name, "v1") == first


def test_a_store_that_refuses_the_record_leaves_no_archive_and_no_local_copy(
    fleet: Registry, sqlite_url: str, artifacts: Path, model_name: str, iris_models
) -> None:
    """The store's database refuses the record's write (a trigger in the SQLite file): the registration fails
    with the store's error, and the uploaded archive and the local BentoML copy are removed."""
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "CREATE TRIGGER closed BEFORE INSERT ON model_versions BEGIN SELECT RAISE(ABORT, 'catalog closed'); END"
        )
    with pytest.raises(StoreError, match="catalog closed"):
        fleet.register(model_name, iris_models["logreg"])
    assert archives(artifacts) == []
    assert bento_model(model_name, "v1") is None
    assert fleet.store.get_plan(model_name) is None and fleet.models() == []


def test_archiving_is_refused_while_served_and_can_prune_the_archive(
    fleet: Registry, artifacts: Path, model_name: str, iris_models
) -> None:
    """The stable version cannot be archived; v2 can, stays listed with --all, and --prune deletes its archive."""
    fleet.register(model_name, iris_models["logreg"])
    v2 = fleet.register(model_name, iris_models["tree"])
    with pytest.raises(VersionInUseError, match="is the stable version"):
        fleet.archive(model_name, "v1", actor="sre")
    fleet.archive(model_name, "v2", actor="sre", reason="worse", prune=True)
    assert [v.version for v in fleet.versions(model_name)] == ["v1"]
    assert [v.archived for v in fleet.versions(model_name, include_archived=True)] == [False, True]
    assert not Path(v2.artifact_uri.removeprefix("file://")).exists()
    assert [e.action for e in fleet.events(model_name)] == ["register", "register", "archive"]


def test_the_cache_bound_evicts_pulled_versions_no_plan_uses(fleet: Registry, model_name: str, iris_models) -> None:
    """Over the bound, the oldest pulled versions outside the kept set are deleted locally; kept ones stay."""
    for _ in range(3):
        fleet.register(model_name, iris_models["tree"])
    # a one-byte bound: every pulled version is over it
    bounded = Registry(fleet.store, artifacts=fleet.artifacts, cache=ArtifactCache(max_bytes=1, max_archive_bytes=None))
    deleted = bounded.evict_cached({(model_name, "v3")})
    assert sorted(t for t in deleted if t.startswith(model_name + ":")) == [f"{model_name}:v1", f"{model_name}:v2"]
    assert bento_model(model_name, "v3") is not None
    assert bounded.load(model_name, "v1").info.version == "v1"  # pulled again on demand
