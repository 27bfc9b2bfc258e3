"""The Kubernetes manifests, rendered as `kubectl apply -k` renders them and validated offline
against the Kubernetes API schemas; then what an operator relies on: probes, non-root with a
read-only root filesystem, resources, a disruption budget, ingress-only network access, a
migration Job per role, and no secret in the repository."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from service.settings import Settings
from tests.deploy.deploy_files import KUSTOMIZATIONS, lnob_containers, rendered
from tests.deploy.kustomize import Unsupported, containers, load_documents, render

# The oldest Kubernetes release still supported by the large managed offerings, and the newest
# the schema package knows.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
INGRESS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
}
SETTINGS = {f"LNOB_{name.upper()}" for name in Settings.model_fields}
NOT_SETTINGS = {"NODE_NAME", "NODE_ORGANISATION"}  # read by the migration Job's arguments

RESOURCES = rendered()


def ident(resource: dict[str, Any]) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("kustomization", "resource"),
    RESOURCES,
    ids=[f"{name}:{ident(resource)}" for name, resource in RESOURCES],
)
def test_manifest_is_valid_kubernetes(
    kustomization: str, resource: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("folder", sorted(KUSTOMIZATIONS.values()), ids=lambda p: p.name)
def test_secret_examples_are_valid_and_hold_only_placeholders(folder: Path) -> None:
    secrets = load_documents(folder / "secret.example.yaml")
    assert secrets
    for secret in secrets:
        kubernetes_validate.validate(secret, VERSIONS[0], strict=True)
        assert all("CHANGE-ME" in value for value in secret["stringData"].values())
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]


def test_no_secret_is_applied_from_the_repository() -> None:
    assert not [ident(res) for _k, res in RESOURCES if res["kind"] == "Secret"]


def test_a_broken_manifest_is_refused() -> None:
    deployment = copy.deepcopy(next(res for _k, res in RESOURCES if res["kind"] == "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)
    deployment["spec"]["replicas"] = 2
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):  # misplaced: strict finds it
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_the_renderer_refuses_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"kind": "Kustomization", "resources": [], "patches": []})
    )
    with pytest.raises(Unsupported, match="patches"):
        render(tmp_path)


def test_images_are_set_by_the_kustomization() -> None:
    images = {container["image"] for _k, _w, container in lnob_containers()}
    assert images == {"registry.example.org/lnob/lnob-data-federation:0.1.0"}


def workloads(kind: str) -> list[dict[str, Any]]:
    return [res for _k, res in RESOURCES if res["kind"] == kind]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def selects_service(service: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(service["spec"]["selector"].items() <= labels.items())


DEPLOYMENTS = workloads("Deployment")
JOBS = workloads("Job")


@pytest.mark.parametrize("workload", DEPLOYMENTS + JOBS, ids=ident)
def test_pods_run_unprivileged_on_a_read_only_root(workload: dict[str, Any]) -> None:
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    volumes = {volume["name"] for volume in pod.get("volumes", [])}
    for container in containers(workload):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        requests = container["resources"]["requests"]
        assert requests["cpu"] and requests["memory"]
        assert container["resources"]["limits"]["memory"]
        mounts = {mount["name"] for mount in container.get("volumeMounts", [])}
        assert mounts <= volumes
        assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=ident)
def test_servers_are_probed_on_healthz_and_readyz(deployment: dict[str, Any]) -> None:
    (container,) = containers(deployment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert str(ports["http"]) == container["args"][container["args"].index("--port") + 1]
    for probe, path in (("livenessProbe", "/healthz"), ("startupProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):  # fmt: skip
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=ident)
def test_each_server_has_a_service_a_budget_and_a_migration_job(
    deployment: dict[str, Any],
) -> None:
    labels = pod_labels(deployment)
    assert selects(deployment["spec"]["selector"], labels)
    services = [s for s in workloads("Service") if selects_service(s, labels)]
    assert len(services) == 1 and services[0]["spec"]["ports"][0]["targetPort"] == "http"
    budgets = [
        b for b in workloads("PodDisruptionBudget") if selects(b["spec"]["selector"], labels)
    ]
    assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] == 1
    assert deployment["spec"]["replicas"] > budgets[0]["spec"]["minAvailable"]

    (server,) = containers(deployment)
    role = server["args"][0]
    migrations = [job for job in JOBS if containers(job)[0]["args"][:2] == [role, "init"]]
    assert len(migrations) == 1
    (migrate,) = containers(migrations[0])
    assert migrate["image"] == server["image"]
    assert migrate["envFrom"] == server["envFrom"]  # the same database, the same settings
    assert migrations[0]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=ident)
def test_servers_receive_traffic_only_from_the_ingress(deployment: dict[str, Any]) -> None:
    labels = pod_labels(deployment)
    policies = [p for p in workloads("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]
    assert policies, "no NetworkPolicy selects the server's pods"
    (container,) = containers(deployment)
    port = container["ports"][0]["containerPort"]
    for policy in policies:
        assert "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", []):
            assert rule["from"] == [INGRESS_PEER]
            assert rule["ports"] == [{"protocol": "TCP", "port": port}]
    routed = [
        path["backend"]["service"]["name"]
        for ingress in workloads("Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    service = next(s for s in workloads("Service") if selects_service(s, labels))
    assert service["metadata"]["name"] in routed


def test_ingress_does_not_publish_metrics_or_probes() -> None:
    for ingress in workloads("Ingress"):
        assert ingress["spec"]["tls"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert not path["path"].startswith(("/metrics", "/healthz", "/readyz"))
                assert path["path"] != "/"


@pytest.mark.parametrize("job", JOBS, ids=ident)
def test_migration_pods_receive_nothing(job: dict[str, Any]) -> None:
    labels = pod_labels(job)
    policies = [p for p in workloads("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]
    assert policies and all(policy["spec"]["ingress"] == [] for policy in policies)


def test_configuration_names_only_real_settings() -> None:
    for _k, configmap in rendered("ConfigMap"):
        for key in configmap["data"]:
            assert key in SETTINGS | NOT_SETTINGS, f"{ident(configmap)}: {key} is no setting"
    for folder in KUSTOMIZATIONS.values():
        for secret in load_documents(folder / "secret.example.yaml"):
            for key in secret["stringData"]:
                assert key in SETTINGS or key.endswith(".pem"), f"{ident(secret)}: {key}"


def test_key_files_are_mounted_where_the_settings_say() -> None:
    configmaps = {res["metadata"]["name"]: res["data"] for _k, res in rendered("ConfigMap")}
    for _k, workload, container in lnob_containers():
        settings: dict[str, str] = {}
        for source in container["envFrom"]:
            if "configMapRef" in source:
                settings |= configmaps[source["configMapRef"]["name"]]
        pod = workload["spec"]["template"]["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        role = container["args"][0]
        key_setting = {"node": "LNOB_KEY_FILE", "auth": "LNOB_AUTH_KEY_FILE"}.get(role)
        if key_setting is None:
            continue
        key_file = Path(settings[key_setting])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(key_file.parent))
        secret = volumes[mount["name"]]["secret"]
        assert mount["readOnly"] is True
        # Root-owned, group 10001 (fsGroup), no access for others.
        assert secret["defaultMode"] == 0o440
