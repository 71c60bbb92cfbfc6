"""The Kubernetes manifests parse and wire the gateway the way the code expects."""

from __future__ import annotations

from pathlib import Path

import yaml

from registry_client.settings import CanarylineSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def load_all() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_every_kustomize_resource_exists_and_parses() -> None:
    """kustomization.yaml lists only files that exist and hold Kubernetes objects."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
        assert docs and all({"apiVersion", "kind", "metadata"} <= set(d) for d in docs), name


def test_gateway_has_tokens_probes_and_a_spool_volume() -> None:
    """The gateway gets its three tokens from the example Secret, probes /readyz and /livez, and keeps its spool."""
    [gateway] = [d for d in load_all() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "canaryline"]
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    [secret] = [d for d in load_all() if d["kind"] == "Secret" and d["metadata"]["name"] == "canaryline-tokens"]
    for role in ("admin", "read", "feedback"):
        ref = env[f"CANARYLINE_{role.upper()}_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], role)
        assert len(secret["stringData"][role]) >= 16
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["CANARYLINE_HOME"]["value"] in mounts and env["BENTOML_HOME"]["value"] in mounts
    assert int(env["CANARYLINE_WORKERS"]["value"]) >= 1


def test_the_fleet_runs_on_postgresql_with_its_dsn_from_a_secret() -> None:
    """CANARYLINE_STORE comes from the example store Secret, a postgresql:// DSN the store settings accept."""
    [gateway] = [d for d in load_all() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "canaryline"]
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["CANARYLINE_STORE"]["valueFrom"]["secretKeyRef"]
    [secret] = [d for d in load_all() if d["kind"] == "Secret" and d["metadata"]["name"] == ref["name"]]
    dsn = secret["stringData"][ref["key"]]
    assert dsn.startswith("postgresql://") and "sslmode=" in dsn
    assert CanarylineSettings(store=dsn).store_url() == dsn
    float(env["CANARYLINE_STORE_TIMEOUT_S"]["value"])


def test_redis_is_optional() -> None:
    """redis.yaml is kept for a fleet on Redis but not applied by kustomize; nothing applied refers to it."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert (K8S / "redis.yaml").exists() and "redis.yaml" not in kustomization["resources"]
    applied = "".join((K8S / name).read_text() for name in kustomization["resources"])
    assert "redis://" not in applied


def test_the_optional_sink_drains_the_gateways_redis_into_its_own_postgresql_dsn() -> None:
    """sink.yaml (not applied by default) runs `canaryline sink` from the store Secret into the sink Secret,
    each pod a consumer of its own name."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "sink.yaml" not in kustomization["resources"]
    [sink] = [d for d in load_all() if d["kind"] == "Deployment" and d["metadata"]["name"] == "canaryline-sink"]
    container = sink["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["canaryline", "sink"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CANARYLINE_STORE"]["valueFrom"]["secretKeyRef"]["name"] == "canaryline-store"
    assert env["CANARYLINE_SINK_DSN"]["valueFrom"]["secretKeyRef"] == {"name": "canaryline-sink", "key": "dsn"}
    assert env["CANARYLINE_SINK_CONSUMER"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
