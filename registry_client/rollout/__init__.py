"""Progressive delivery: a rollout steps a version up through canary weights, gated on ground truth.

- :mod:`~registry_client.rollout.gates` and :mod:`~registry_client.rollout.policy`: the pure gates and the
  decision they lead to;
- :mod:`~registry_client.rollout.spec` (options and YAML → a spec) and :mod:`~registry_client.rollout.state`
  (pure transitions of the state, both values of :mod:`registry_client.domain.rollout`);
- :mod:`~registry_client.rollout.window`: a tick's evidence read from the store, and its gates;
- :mod:`~registry_client.rollout.controller`: the tick (lease, reconcile, decide, fenced plan saves);
- :mod:`~registry_client.rollout.commands`: what a human does (start, pause, resume, abort, promote);
- :mod:`~registry_client.rollout.webhook`: each decision POSTed as JSON, retried.
"""

from __future__ import annotations

__all__: list[str] = []
