"""HTTP clients of a gateway: the control plane and ground truth, one outcome or a file of them."""

from __future__ import annotations

__all__: list[str] = []
