"""SHA-256 of a saved model artifact: every file of the model folder but BentoML's own model.yaml.

The gateway reads the files once, checks the digest of those very bytes and loads from them, so what
is verified is exactly what is loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from registry_client.errors import ArtifactIntegrityError

__all__ = ["digest_files", "read_artifact", "read_verified"]

_METADATA_FILE = "model.yaml"  # written by BentoML after the artifact, holds the digest itself


def read_artifact(model_dir: Path) -> dict[str, bytes]:
    """The artifact's files by path relative to ``model_dir``, in a stable order."""
    files: dict[str, bytes] = {}
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and path.relative_to(model_dir).as_posix() != _METADATA_FILE:
            files[path.relative_to(model_dir).as_posix()] = path.read_bytes()
    return files


def digest_files(files: Mapping[str, bytes]) -> str:
    """SHA-256 over each file's relative path, length and bytes, in path order."""
    sha = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        sha.update(name.encode())
        sha.update(b"\0")
        sha.update(len(data).to_bytes(8, "big"))
        sha.update(data)
    return sha.hexdigest()


def read_verified(model_dir: Path, expected: str, *, what: str) -> dict[str, bytes]:
    """Read the artifact and return its files only when their SHA-256 equals ``expected``."""
    files = read_artifact(model_dir)
    actual = digest_files(files)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what}: artifact SHA-256 is {actual[:12]}…, registered {expected[:12]}…; refusing to load it"
        )
    return files
