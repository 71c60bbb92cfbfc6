"""The model registry: immutable versions with their metadata, their artifacts and SHA-256, and the
framework adapters that write and load them."""

from __future__ import annotations

__all__: list[str] = []
