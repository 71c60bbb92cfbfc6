"""The Kubernetes manifests are valid objects for the Kubernetes API and wire the gateway the way the code
expects: no shared volume, the artifact store and a bounded per-pod cache, a read-only root, an autoscaler,
a disruption budget and a network policy that fit each other."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from fsspec.core import split_protocol
from fsspec.registry import known_implementations

from registry_client.settings import CanarylineSettings, GatewaySettings
from tests.support.tokens import TOKEN_SETTINGS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
#: Kept beside the applied manifests on purpose: the optional Redis and the Secrets' shapes.
NOT_APPLIED = {"kustomization.yaml", "redis.yaml", "secret.example.yaml"}
#: The oldest Kubernetes release the manifests target (every field they use is on by default since 1.27),
#: and the newest whose schemas the validator bundles.
VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
#: Settings the manifests set before this branch has them: the artifact store's, added on the fleet branch.
#: Emptied when they land (test_every_canaryline_variable_is_a_setting fails until then).
BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}


def load_all() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(kind: str, name: str = "canaryline") -> dict:
    [doc] = [d for d in load_all() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_spec() -> dict:
    spec: dict = one("StatefulSet")["spec"]["template"]["spec"]
    return spec


def gateway_container() -> dict:
    [container] = pod_spec()["containers"]
    return container


def environment() -> dict[str, Any]:
    """The gateway container's environment: the ConfigMaps it takes whole, then its own entries (which win)."""
    container = gateway_container()
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= one("ConfigMap", source["configMapRef"]["name"])["data"]
    return env | {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def quantity(value: str) -> int:
    """A Kubernetes binary quantity (``10Gi``) in bytes."""
    return int(value[:-2]) * BINARY[value[-2:]]


def test_kustomization_applies_every_manifest_in_the_folder() -> None:
    """kustomization.yaml lists every manifest beside it (bar the optional and example ones), each of which
    holds Kubernetes objects."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name not in NOT_APPLIED)
    for name in kustomization["resources"]:
        docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
        assert docs and all({"apiVersion", "kind", "metadata"} <= set(d) for d in docs), name


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_for_the_kubernetes_api(version: str) -> None:
    """Every object, the optional and example ones too, validates against the Kubernetes JSON schemas of
    that release, strictly (an unknown or misspelt field fails), from the schemas the validator ships."""
    docs = [d for d in load_all() if d["kind"] != "Kustomization"]
    assert {d["kind"] for d in docs} >= {
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_misspelt_or_mistyped_field() -> None:
    """A misspelt securityContext field and a probe port of the wrong type are refused, naming the path."""
    statefulset = one("StatefulSet")
    misspelt = copy.deepcopy(statefulset)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = container["securityContext"].pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(misspelt, VERSIONS[-1], strict=True)
    mistyped = copy.deepcopy(statefulset)
    mistyped["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = "5s"
    with pytest.raises(kubernetes_validate.ValidationError) as refused:
        kubernetes_validate.validate(mistyped, VERSIONS[-1], strict=True)
    assert list(refused.value.path)[-2:] == ["readinessProbe", "periodSeconds"]


def test_gateway_has_tokens_probes_and_a_spool_volume() -> None:
    """The gateway gets its three tokens from the example Secret, probes /readyz and /livez on its port, and
    keeps its spool on a claim of its own."""
    container = gateway_container()
    env = environment()
    secret = one("Secret", "canaryline-tokens")
    for role in ("admin", "read", "feedback"):
        ref = env[f"CANARYLINE_{role.upper()}_TOKEN"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("canaryline-tokens", role)
        assert len(secret["stringData"][role]) >= 16
    ports = {p["name"] for p in container["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez"), ("startupProbe", "/livez")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"} and "http" in ports
    spool = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == env["CANARYLINE_HOME"]}
    claims = {c["metadata"]["name"]: c for c in one("StatefulSet")["spec"]["volumeClaimTemplates"]}
    assert spool == {"spool"} and claims["spool"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert int(env["CANARYLINE_WORKERS"]) >= 1


def test_the_fleet_runs_on_postgresql_with_its_dsn_from_a_secret() -> None:
    """CANARYLINE_STORE comes from the example store Secret, a postgresql:// DSN the store settings accept."""
    ref = environment()["CANARYLINE_STORE"]["secretKeyRef"]
    dsn = one("Secret", ref["name"])["stringData"][ref["key"]]
    assert dsn.startswith("postgresql://") and "sslmode=" in dsn
    assert CanarylineSettings(store=dsn).store_url() == dsn
    float(environment()["CANARYLINE_STORE_TIMEOUT_S"])


def test_no_shared_volume_but_an_artifact_store_and_a_bounded_cache() -> None:
    """Nothing asks for a shared (ReadWriteMany) volume; artifacts come from an fsspec URL and are cached in
    an emptyDir whose sizeLimit is above the cache bound (the kubelet evicts a pod past its sizeLimit)."""
    claims = [d for d in load_all() if d["kind"] == "PersistentVolumeClaim"]
    claims += [c for d in load_all() if d["kind"] == "StatefulSet" for c in d["spec"]["volumeClaimTemplates"]]
    assert claims and all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims)
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    assert all(set(v) == {"name", "emptyDir"} for v in volumes.values())
    env = environment()
    protocol, _ = split_protocol(env["CANARYLINE_ARTIFACTS"])
    assert protocol in known_implementations and protocol in {"file", "s3", "gs"}
    [cache] = [m["name"] for m in gateway_container()["volumeMounts"] if m["mountPath"] == env["BENTOML_HOME"]]
    assert int(env["CANARYLINE_ARTIFACT_CACHE_BYTES"]) <= 0.9 * quantity(volumes[cache]["emptyDir"]["sizeLimit"])


def test_the_root_filesystem_is_read_only_and_every_writable_place_is_a_mount() -> None:
    """Non-root, no privilege escalation, no capabilities, a read-only root; the spool, the cache and the
    temporary folder are mounts, and the ephemeral-storage limit holds both emptyDirs."""
    pod = pod_spec()
    container = gateway_container()
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    env = environment()
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {env["CANARYLINE_HOME"], env["BENTOML_HOME"], env["TMPDIR"], "/tmp"} <= mounts  # noqa: S108 — the pod's own emptyDir
    assert not any(m.get("readOnly") for m in container["volumeMounts"])
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    sizes = sum(quantity(v["emptyDir"]["sizeLimit"]) for v in pod["volumes"])
    assert quantity(resources["limits"]["ephemeral-storage"]) >= sizes
    assert "command" not in container and "args" not in container  # the image's entrypoint serves the Bento
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "canaryline"


def test_the_autoscaler_owns_the_replica_count_and_a_drain_leaves_two_serving() -> None:
    """The HPA scales the gateways' StatefulSet on CPU (which the pods request); the StatefulSet sets no
    replica count an apply would reset; the budget lets one pod go at a time and keeps at least two."""
    statefulset, hpa, pdb = one("StatefulSet"), one("HorizontalPodAutoscaler"), one("PodDisruptionBudget")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "StatefulSet", "canaryline")
    assert "replicas" not in statefulset["spec"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and "cpu" in gateway_container()["resources"]["requests"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert isinstance(pdb["spec"]["maxUnavailable"], int) and "minAvailable" not in pdb["spec"]
    assert hpa["spec"]["minReplicas"] - pdb["spec"]["maxUnavailable"] >= 2
    assert one("Service")["spec"]["selector"].items() <= labels.items()


def test_the_network_policy_admits_the_gateway_port_and_lets_out_dns_the_store_and_the_object_store() -> None:
    """Ingress only to the container's http port; every egress rule names its ports: DNS to kube-dns, the
    store DSN's port, and HTTPS for an s3:// or gs:// artifact store."""
    policy = one("NetworkPolicy")
    labels = one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    [ingress] = policy["spec"]["ingress"]
    [port] = gateway_container()["ports"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": port["name"]}]
    egress = policy["spec"]["egress"]
    assert all(rule.get("ports") for rule in egress)
    allowed = {(p["protocol"], p["port"]) for rule in egress for p in rule["ports"]}
    [dns] = [rule for rule in egress if ("UDP", 53) in {(p["protocol"], p["port"]) for p in rule["ports"]}]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    ref = environment()["CANARYLINE_STORE"]["secretKeyRef"]
    dsn = one("Secret", ref["name"])["stringData"][ref["key"]]
    assert ("TCP", urlsplit(dsn).port or 5432) in allowed
    assert split_protocol(environment()["CANARYLINE_ARTIFACTS"])[0] in {"s3", "gs"} and ("TCP", 443) in allowed


def test_every_canaryline_variable_is_a_setting_and_its_value_is_accepted() -> None:
    """Each CANARYLINE_* name the manifests set is a gateway setting (a misspelt one would be ignored), and
    the ConfigMap's values pass the settings' rules."""
    env = environment()
    names = {n for n in env if n.startswith("CANARYLINE_")}
    fields = {f"CANARYLINE_{name.upper()}" for name in GatewaySettings.model_fields}
    assert names <= fields, sorted(names - fields)
    values = {n.removeprefix("CANARYLINE_").lower(): v for n, v in env.items() if n in fields and isinstance(v, str)}
    settings = GatewaySettings.model_validate({**values, **TOKEN_SETTINGS})
    assert settings.log_mode == env["CANARYLINE_LOG_MODE"] and settings.workers == int(env["CANARYLINE_WORKERS"])


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
