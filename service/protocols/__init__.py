"""The standard inference protocols, as transports over the one data plane (:class:`service.gateway.Gateway`).

- :mod:`.v2`: the Open Inference Protocol (v2, REST), as spoken by Triton, KServe and MLServer clients;
- :mod:`.kserve_v1`: KServe's v1 protocol (``{"instances": [...]}``).

Both route, stamp and log exactly like ``POST /predict``; refusals are ``{"error": "<message>"}``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import kserve_v1, v2

__all__ = ["protocol_routes"]


def protocol_routes() -> list[BaseRoute]:
    """Every protocol route, each prefix ending in a catch-all that answers in that protocol's body."""
    return [*v2.routes(), *kserve_v1.routes()]
