"""The HTTP transports over the one data plane: native, feedback, admin, OIP v2 and KServe v1, mounted by
:mod:`service.rest.app`, plus the ASGI middlewares in front of them."""

from __future__ import annotations

__all__: list[str] = []
