"""canaryline's gateway: routing, stamping and logging predictions inside a BentoML service."""

from __future__ import annotations

from registry_client.errors import CanarylineError
from registry_client.settings import GatewaySettings
from service.dataplane.gateway import Gateway, Prediction

__all__ = ["CanarylineError", "Gateway", "GatewaySettings", "Prediction"]
