"""A rollout spec from what a human writes: command-line options or a YAML file, durations like ``10m``.

The spec itself is a domain value (:class:`~registry_client.domain.rollout.RolloutSpec`); this module turns
text into it and its gate thresholds. A YAML spec holds the same fields as the options, under their option
names with dashes or underscores (``step-duration: 10m``, ``steps: [5, 25, 50, 100]``); options given on the
command line override the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from registry_client.domain.plan import first_error
from registry_client.domain.rollout import RolloutSpec
from registry_client.errors import RolloutError
from registry_client.rollout.gates import GateThresholds

__all__ = ["DURATION_FIELDS", "build_spec", "parse_duration", "parse_steps", "read_spec_file", "thresholds_of"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
#: Option name → spec field, for the fields written as durations.
DURATION_FIELDS = {
    "step_duration": "step_duration_s",
    "max_step_duration": "max_step_duration_s",
    "shadow_first": "shadow_first_s",
    "label_delay": "label_delay_s",
}


def parse_duration(text: str | float, *, field: str = "duration") -> float:
    """Seconds from ``90``, ``30s``, ``10m``, ``1.5h``, ``2d`` or ``250ms``; RolloutError naming the field."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    found = _DURATION.match(str(text))
    if found is None:
        raise RolloutError(f"{field}: {text!r} is not a duration (e.g. 30s, 10m, 1h)")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def parse_steps(text: str | list[Any] | tuple[Any, ...]) -> tuple[float, ...]:
    """Step weights from ``5,25,50,100`` (or a YAML list)."""
    parts = text if isinstance(text, list | tuple) else [p for p in str(text).split(",") if p.strip()]
    try:
        return tuple(float(p) for p in parts)
    except (TypeError, ValueError) as exc:
        raise RolloutError(f"steps: {text!r} is not a comma-separated list of percentages") from exc


def read_spec_file(path: Path) -> dict[str, Any]:
    """The options a YAML spec file holds (keys with dashes become underscores)."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RolloutError(f"cannot read the rollout spec {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise RolloutError(f"the rollout spec {path} must be a mapping of options")
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}


def build_spec(options: Mapping[str, Any]) -> RolloutSpec:
    """The spec from option names (``step_duration``: ``10m`` …) or spec fields; RolloutError naming the field."""
    fields: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if name in DURATION_FIELDS:
            fields[DURATION_FIELDS[name]] = parse_duration(value, field=name.replace("_", "-"))
        elif name == "steps":
            fields["steps"] = parse_steps(value)
        else:
            fields[name] = value
    try:
        return RolloutSpec.model_validate(fields)
    except ValidationError as exc:
        raise RolloutError(f"rollout spec: {first_error(exc)}") from exc


def thresholds_of(spec: RolloutSpec) -> GateThresholds:
    """The gate thresholds a spec sets; latency needs as many requests per arm as quality needs outcomes,
    and its level is split over the canary steps (each step is tested on its own traffic)."""
    return GateThresholds(
        margin=spec.margin,
        min_outcomes=spec.min_outcomes,
        max_p99_ratio=spec.max_p99_ratio,
        min_latency_samples=spec.min_outcomes,
        latency_alpha=spec.alpha / len(spec.canary_steps),
        min_agreement=spec.min_agreement,
        max_error_rate_increase=spec.max_error_rate_increase,
        alpha=spec.alpha,
    )
