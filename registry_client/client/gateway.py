"""The gateway client: the admin (control-plane) API and ground-truth feedback, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from registry_client.errors import GatewayRefusedError, GatewayUnavailableError

__all__ = ["GatewayClient"]


class GatewayClient:
    """One gateway's admin API and feedback intake; ``transport`` lets tests or embedders swap the network.

    Each call presents the token its endpoint takes: ``token`` (the admin token) for mutations,
    ``read_token`` (else the admin token) for the plan, history and ``/models``, ``feedback_token`` for
    outcomes.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        read_token: str | None = None,
        feedback_token: str | None = None,
        actor: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if actor:
            headers["X-Canaryline-Actor"] = actor
        self._admin = _bearer(token)
        self._read = _bearer(read_token or token)
        self._feedback = _bearer(feedback_token)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads ---------------------------------------------------------------------------------
    def model(self, model: str) -> dict[str, Any]:
        """What the gateway serves for ``model``: plan in force, loaded versions, errors, shadow counters."""
        return self._call("GET", f"/models/{model}", auth=self._read)

    def plan(self, model: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/admin/models/{model}/plan", auth=self._read)["plan"])

    def history(self, model: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/admin/models/{model}/history", auth=self._read)["history"])

    # -- mutations -----------------------------------------------------------------------------
    def promote(self, model: str, version: str, *, reason: str, expected_revision: int | None = None) -> dict[str, Any]:
        return self._mutate(model, "promote", reason, expected_revision, version=version)

    def set_canary(
        self,
        model: str,
        version: str,
        *,
        weight: float,
        sticky: bool = True,
        reason: str,
        expected_revision: int | None = None,
    ) -> dict[str, Any]:
        return self._mutate(model, "canary", reason, expected_revision, version=version, weight=weight, sticky=sticky)

    def clear_canary(self, model: str, *, reason: str, expected_revision: int | None = None) -> dict[str, Any]:
        return self._mutate(model, "canary/clear", reason, expected_revision)

    def set_shadow(
        self, model: str, version: str, *, sample: float = 100.0, reason: str, expected_revision: int | None = None
    ) -> dict[str, Any]:
        return self._mutate(model, "shadow", reason, expected_revision, version=version, sample=sample)

    def clear_shadow(self, model: str, *, reason: str, expected_revision: int | None = None) -> dict[str, Any]:
        return self._mutate(model, "shadow/clear", reason, expected_revision)

    def rollback(
        self, model: str, *, to: str | None = None, reason: str, expected_revision: int | None = None
    ) -> dict[str, Any]:
        return self._mutate(model, "rollback", reason, expected_revision, to=to)

    # -- rollouts ------------------------------------------------------------------------------
    def rollout(self, model: str) -> dict[str, Any]:
        """The model's current rollout state (404 when it never had one)."""
        return dict(self._call("GET", f"/admin/models/{model}/rollout", auth=self._read)["rollout"])

    def start_rollout(self, model: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Start a rollout of ``spec`` (RolloutSpec's fields but model and actor); the controller takes it on."""
        return dict(self._call("POST", f"/admin/models/{model}/rollout", spec, auth=self._admin)["rollout"])

    def rollout_command(self, model: str, command: str, *, reason: str, force: bool = False) -> dict[str, Any]:
        """``pause``, ``resume``, ``abort`` or ``promote`` (with ``force``) the model's rollout."""
        body: dict[str, Any] = {"reason": reason, **({"force": True} if force else {})}
        path = f"/admin/models/{model}/rollout/{command}"
        return dict(self._call("POST", path, body, auth=self._admin)["rollout"])

    # -- ground truth --------------------------------------------------------------------------
    def post_feedback(
        self,
        request_id: str,
        outcome: Any,
        *,
        observed_at: float | str | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """``POST /feedback``: the outcome of a served request (one value, or one per row of a batch).

        Returns the gateway's 202 body (model, versions and predictions the outcome was joined to);
        raises GatewayClientError with the gateway's status and code when it is refused.
        """
        body: dict[str, Any] = {"request_id": request_id, "outcome": outcome}
        if observed_at is not None:
            body["observed_at"] = observed_at
        if model is not None:
            body["model"] = model
        return self._call("POST", "/feedback", body, auth=self._feedback)

    # -- plumbing ------------------------------------------------------------------------------
    def _mutate(self, model: str, action: str, reason: str, expected: int | None, **fields: Any) -> dict[str, Any]:
        body = {"reason": reason, **{k: v for k, v in fields.items() if v is not None}}
        if expected is not None:
            body["expected_revision"] = expected
        return self._call("POST", f"/admin/models/{model}/{action}", body, auth=self._admin)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: dict[str, str]
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body, headers=auth)
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(
                f"cannot reach the gateway at {self.base_url}: {exc}", status=503, code="unreachable"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_success and isinstance(payload, dict):
            return payload
        error = payload.get("error") if isinstance(payload, dict) else None
        failure = GatewayRefusedError if response.is_client_error else GatewayUnavailableError
        if isinstance(error, dict):
            raise failure(str(error.get("message")), status=response.status_code, code=str(error.get("code")))
        raise failure(
            f"the gateway at {self.base_url} answered {response.status_code} to {method} {path}: {response.text[:200]}",
            status=response.status_code,
        )


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
