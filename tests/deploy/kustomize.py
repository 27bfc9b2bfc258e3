"""A renderer for the kustomizations in deploy/k8s, which use only `resources` and `images`.

`kubectl apply -k` renders them the same way; keeping to these two fields is what lets CI check
the rendered manifests without the kustomize binary. Anything else is refused, so a kustomization
that grows past what this renders fails here first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "images"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class Unsupported(Exception):
    """The kustomization uses a field this renderer does not implement."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def render(folder: Path) -> list[dict[str, Any]]:
    """The resources the kustomization in `folder` produces, in order, images replaced."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    extra = set(kustomization) - SUPPORTED
    if extra:
        raise Unsupported(f"{folder}/kustomization.yaml uses {sorted(extra)}")
    if kustomization.get("kind") != "Kustomization":
        raise Unsupported(f"{folder}/kustomization.yaml is not a Kustomization")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = folder / entry
        resources.extend(render(target) if target.is_dir() else load_documents(target))
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in containers(resource):
                container["image"] = _replace(container["image"], image)
    return resources


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers (init containers included) of a workload's pod template."""
    if resource.get("kind") == "Pod":
        spec = resource.get("spec", {})
    elif resource.get("kind") in POD_TEMPLATE_KINDS:
        spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    elif resource.get("kind") == "CronJob":
        job = resource.get("spec", {}).get("jobTemplate", {}).get("spec", {})
        spec = job.get("template", {}).get("spec", {})
    else:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _replace(reference: str, image: dict[str, str]) -> str:
    name, tag, digest = _split(reference)
    if name != image["name"]:
        return reference
    name = image.get("newName", name)
    if "digest" in image:
        return f"{name}@{image['digest']}"
    tag = image.get("newTag", tag)
    if digest and "newTag" not in image:
        return f"{name}@{digest}"
    return f"{name}:{tag}" if tag else name


def _split(reference: str) -> tuple[str, str | None, str | None]:
    name, _, digest = reference.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        return name, tag, digest or None
    return name, None, digest or None
