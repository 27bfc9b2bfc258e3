"""Every command the image, the compose file and the Kubernetes manifests run is a command the
`lnob` CLI has, with options it accepts: a renamed command or option fails here, not in
production."""

from __future__ import annotations

import re

import click
import pytest

from tests.deploy.cli import check_command
from tests.deploy.deploy_files import (
    dockerfile_instructions,
    exec_form,
    lnob_compose_services,
    lnob_containers,
    rendered,
)


def image_command() -> list[str]:
    instructions = dockerfile_instructions()
    entrypoint = [exec_form(args) for keyword, args in instructions if keyword == "ENTRYPOINT"]
    cmd = [exec_form(args) for keyword, args in instructions if keyword == "CMD"]
    assert entrypoint[-1] == ["lnob"]
    return cmd[-1]


def commands_run() -> list[tuple[str, list[str]]]:
    found = [("Dockerfile CMD", image_command())]
    for name, service in lnob_compose_services().items():
        command = service.get("command")
        assert isinstance(command, list), f"compose service {name}: give `command` as a list"
        assert "entrypoint" not in service, f"compose service {name} replaces the entrypoint"
        found.append((f"compose service {name}", command))
    for kustomization, workload, container in lnob_containers():
        where = f"k8s/{kustomization} {workload['kind']} {workload['metadata']['name']}"
        assert container.get("command") in (None, ["lnob"]), f"{where} replaces the entrypoint"
        found.append((where, container["args"]))
    return found


COMMANDS = commands_run()


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_command_exists_in_the_cli(where: str, argv: list[str]) -> None:
    try:
        path = check_command(argv)
    except click.UsageError as exc:
        pytest.fail(f"{where} runs `lnob {' '.join(argv)}`: {exc.format_message()}")
    assert path[-1] in ("serve", "init"), f"{where} runs {path}: a server or a migration"


def test_every_role_has_its_server_and_its_migration() -> None:
    run = {" ".join(argv[:2]) for _where, argv in COMMANDS}
    for role in ("node", "coordinator", "auth"):
        assert f"{role} serve" in run and f"{role} init" in run


def test_variables_in_kubernetes_arguments_are_defined() -> None:
    """`$(NODE_NAME)` in args is expanded by Kubernetes from the container's environment."""
    configmaps = {res["metadata"]["name"]: res["data"] for _k, res in rendered("ConfigMap")}
    for _kustomization, workload, container in lnob_containers():
        defined = {entry["name"] for entry in container.get("env", [])}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                defined |= set(configmaps[source["configMapRef"]["name"]])
        for argument in container["args"]:
            for variable in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", argument):
                assert variable in defined, f"{workload['metadata']['name']} uses $({variable})"


def test_the_checker_refuses_what_the_cli_would() -> None:
    assert check_command(["node", "serve", "--host", "0.0.0.0", "--port", "8000"]) == [
        "lnob", "node", "serve",
    ]  # fmt: skip
    for argv in (
        ["node", "serve", "--port", "eighty"],
        ["node", "serve", "--bind", "0.0.0.0"],
        ["node", "launch"],
        ["node"],
        ["nodes", "serve"],
    ):
        with pytest.raises(click.UsageError):
            check_command(argv)
