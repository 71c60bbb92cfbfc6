"""The ``canaryline`` command, by command group."""

from __future__ import annotations

from registry_client.cli.app import app, main

__all__ = ["app", "main"]
