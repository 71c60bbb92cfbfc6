"""The console's files, read from the package (``registry_client/console/static``, package data in the wheel and the
Bento) so the console works offline: nothing is fetched from a CDN and nothing is built at run time.

The chart library is uPlot (``static/vendor/uPlot.iife.min.js``, MIT, its licence beside it): 51 KB minified
with no dependencies, canvas drawing that stays fast at thousands of points (the rollout evidence over time
is the next console page), and a plain global that both the console's ES modules and the one-file
``eval --html`` report can use. Chart.js 4 does more out of the box but is about four times the size, and
that size is inlined into every report file.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

__all__ = ["Asset", "load_assets", "read_asset"]

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file: its bytes, media type and a strong ETag (its SHA-256)."""

    path: str
    body: bytes
    media_type: str
    etag: str


def _root() -> Traversable:
    return resources.files("registry_client.console").joinpath("static")


def _walk(node: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for child in node.iterdir():
        name = f"{prefix}{child.name}"
        if child.is_dir():
            found.extend(_walk(child, name + "/"))
        elif child.is_file():
            found.append((name, child))
    return found


def read_asset(path: str) -> str:
    """The text of one file under ``static/`` (``"charts.js"``, ``"vendor/uPlot.iife.min.js"``)."""
    return _root().joinpath(*path.split("/")).read_text(encoding="utf-8")


def load_assets() -> dict[str, Asset]:
    """Every file under ``static/`` by its relative path, read once (about 80 KB in all)."""
    assets: dict[str, Asset] = {}
    for path, node in _walk(_root(), ""):
        body = node.read_bytes()
        suffix = path[path.rfind(".") :]
        media_type = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        assets[path] = Asset(path, body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return assets
