"""Where version archives live across a fleet: ``CANARYLINE_ARTIFACTS``, any URL fsspec opens.

``file:///srv/artifacts`` (a shared volume or NFS), ``s3://bucket/prefix`` (with ``s3fs``), ``gs://bucket/prefix``
(with ``gcsfs``), …: every read and write goes through fsspec and the backend its protocol names, so nothing
here speaks a storage protocol itself. A version's archive is written to
``<location>/<model>/<version>/<random id>.bentomodel``: the random part means a registration that loses a
race (or fails after uploading) deletes only its own upload, never the archive of a version that exists.

Errors: a backend that cannot be reached, refuses the credentials or lacks the object raises
:class:`~registry_client.errors.ArtifactUnavailableError` naming the URL (without credentials) and the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
from fsspec.spec import AbstractFileSystem

from registry_client.errors import ArtifactUnavailableError
from registry_client.settings import redact_url

__all__ = ["ArtifactStore", "archive_digest", "delete_artifact", "read_artifact_bytes"]

_SUFFIX = ".bentomodel"
_CHUNK = 1 << 20


def archive_digest(path: Path) -> str:
    """SHA-256 of the archive file's bytes, read in 1 MiB chunks."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


@contextlib.contextmanager
def _reaching(url: str, doing: str) -> Iterator[None]:
    try:
        yield
    except ArtifactUnavailableError:
        raise
    except (OSError, ValueError, ImportError, RuntimeError) as exc:  # what fsspec backends raise
        raise ArtifactUnavailableError(
            f"artifact store {redact_url(url)} unavailable while {doing}: {type(exc).__name__}: {exc}"
        ) from exc


def _fs(url: str) -> tuple[AbstractFileSystem, str]:
    with _reaching(url, "opening it"):
        fs, path = fsspec.core.url_to_fs(url)
    return fs, str(path)


def read_artifact_bytes(uri: str, *, max_bytes: int | None = None) -> bytes:
    """The bytes of the archive at ``uri``; ArtifactUnavailableError when it cannot be read (or is larger
    than ``max_bytes``, so a swapped object cannot fill the disk before its digest is checked)."""
    fs, path = _fs(uri)
    with _reaching(uri, "reading the archive"):
        if max_bytes is not None and int(fs.size(path)) > max_bytes:
            raise ArtifactUnavailableError(f"artifact {redact_url(uri)} is larger than {max_bytes} bytes")
        data: bytes = fs.cat_file(path)
    return data


def delete_artifact(uri: str) -> None:
    """Remove the archive at ``uri`` (gone already is fine)."""
    fs, path = _fs(uri)
    with _reaching(uri, "deleting the archive"):
        if fs.exists(path):
            fs.rm_file(path)


class ArtifactStore:
    """The artifact location of the settings: upload, check and delete version archives under it."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/")
        self.fs, self.root = _fs(self.location)

    def __repr__(self) -> str:
        return f"ArtifactStore({redact_url(self.location)!r})"

    def put(self, archive: Path, model: str, version: str) -> str:
        """Upload ``archive`` as a new object for ``model:version``; its URL."""
        name = f"{model}/{version}/{uuid.uuid4().hex}{_SUFFIX}"
        target = f"{self.root}/{name}"
        with _reaching(self.location, f"uploading {model}:{version}"):
            self.fs.makedirs(f"{self.root}/{model}/{version}", exist_ok=True)
            self.fs.put_file(str(archive), target)
        return f"{self.location}/{name}"

    def delete(self, uri: str) -> None:
        delete_artifact(uri)
