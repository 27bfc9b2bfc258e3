"""Where the deployment files are, and what they run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.kustomize import containers, render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
GUIDE = DEPLOY / "README.md"
KUSTOMIZATIONS = {"node": DEPLOY / "k8s" / "node", "secretariat": DEPLOY / "k8s" / "secretariat"}
IMAGE = "lnob-data-federation"


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(part, str) for part in value), arguments
    return value


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def is_lnob(image: str) -> bool:
    return IMAGE in image


def lnob_compose_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if is_lnob(str(service.get("image", "")))
    }


def rendered(kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(kustomization name, resource) for every resource both kustomizations render."""
    out = []
    for name, folder in KUSTOMIZATIONS.items():
        for resource in render(folder):
            if kind is None or resource["kind"] == kind:
                out.append((name, resource))
    return out


def lnob_containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kustomization, workload, container) for every container running the product's image."""
    return [
        (name, resource, container)
        for name, resource in rendered()
        for container in containers(resource)
        if is_lnob(container["image"])
    ]
