"""canaryline's gateway: routing, stamping and logging predictions inside a BentoML service."""

from __future__ import annotations

from .errors import GatewayError
from .gateway import Gateway, Prediction
from .settings import GatewaySettings

__all__ = ["Gateway", "GatewayError", "GatewaySettings", "Prediction"]
