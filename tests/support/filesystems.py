"""Real small filesystems for disk-fault tests: a tmpfs of a few hundred KiB, remounted read-only at will.

The machine runs the tests as root, so ``mount -t tmpfs`` works. Where it does not (no root, a container
without ``CAP_SYS_ADMIN``), a test that needs one is skipped, saying why; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the ``with`` block, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    done = _run(mount, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)) if mount else None
    if done is None or done.returncode != 0:
        reason = f"cannot mount a {size} tmpfs at {path}: {done.stderr.strip() if done else 'no mount command'}"
        if IN_CI:
            pytest.fail(f"{reason}; disk-fault tests are required under CI=true (run them as root)")
        pytest.skip(reason)
    try:
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))  # a process of the test still holds a file: detach it lazily


def remount(path: Path, mode: str) -> None:
    """Remount the filesystem at ``path`` ``ro`` or ``rw`` (EROFS for every write while ``ro``)."""
    done = _run("mount", "-o", f"remount,{mode}", str(path))
    assert done.returncode == 0, f"remount,{mode} of {path} failed: {done.stderr.strip()}"


def fill(path: Path) -> int:
    """Fill the filesystem holding ``path`` with a ballast file until it is full; returns the bytes written."""
    written = 0
    with (path / "ballast").open("wb", buffering=0) as ballast:
        block = b"\0" * 4096
        while True:
            try:
                written += ballast.write(block) or 0
            except OSError:
                return written


def free(path: Path) -> None:
    """Remove the ballast :func:`fill` wrote."""
    (path / "ballast").unlink(missing_ok=True)
