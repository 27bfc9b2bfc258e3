"""deploy/README.md, the operator guide: every setting documented with its real default, every
section an operator needs, and every `lnob` command it shows one the CLI accepts."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from service.settings import Settings
from tests.deploy.cli import check_command
from tests.deploy.deploy_files import GUIDE

TEXT = GUIDE.read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match is not None, f"the guide has no section {title!r}"
    return match.group(1)


def documented_settings() -> dict[str, str]:
    """variable → default cell, from every table row in the Settings section."""
    rows = re.findall(r"^\| `(LNOB_[A-Z0-9_]+)` \| ([^|]+) \|", section("Settings"), re.M)
    names = [name for name, _ in rows]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"documented twice: {duplicates}"
    return {name: default.strip() for name, default in rows}


def shown_default(value: object) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default() -> None:
    documented = documented_settings()
    for name, field in Settings.model_fields.items():
        variable = f"LNOB_{name.upper()}"
        assert variable in documented, f"{variable} is not in deploy/README.md's Settings"
        default = shown_default(field.get_default(call_default_factory=True))
        assert documented[variable] == default, f"{variable}: the guide says {documented[variable]}"
    unknown = set(documented) - {f"LNOB_{name.upper()}" for name in Settings.model_fields}
    assert not unknown, f"the guide documents settings that do not exist: {unknown}"


@pytest.mark.parametrize(
    "title",
    [
        "A node on one VM with PostgreSQL",
        "Registering with the coordinator",
        "Kubernetes",
        "Upgrade",
        "Backup and restore",
        "Key rotation",
        "Metrics",
        "Logs",
        "Settings",
    ],
)
def test_the_guide_covers(title: str) -> None:
    assert len(section(title).split()) > 60


def test_the_vm_walkthrough_goes_from_nothing_to_a_registered_node() -> None:
    walkthrough = section("A node on one VM with PostgreSQL")
    steps = re.findall(r"^### (\d+)\. ", walkthrough, re.M)
    assert steps == [str(n) for n in range(1, len(steps) + 1)] and len(steps) >= 6
    order = ["apt-get install", "createdb", "node init", "node ingest", "node serve", "publicKey"]
    positions = [walkthrough.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "nodes add https://node.example.org --key" in section("Registering with the coordinator")


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", TEXT, re.M | re.S)


def lnob_command_lines() -> list[list[str]]:
    """The arguments after `lnob` (or after the image, or a Compose service) in shell blocks."""
    found = []
    for block in shell_blocks():
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            for index, word in enumerate(words):
                before = words[:index]
                program = word == "lnob" and (
                    all("=" in w for w in before) or before[-1:] == ["--"]
                )
                if (program or word == "$IMAGE") and index + 1 < len(words):
                    found.append(words[index + 1 :])
                    break
                if word == "--rm" and words[:2] == ["docker", "compose"]:
                    found.append(words[index + 2 :])
                    break
    return found


COMMANDS = lnob_command_lines()


def test_the_guide_shows_commands_of_every_role() -> None:
    run = {" ".join(argv[:2]) for argv in COMMANDS}
    for expected in ("node init", "node serve", "node backup", "node restore", "node keys",
                     "coordinator nodes", "auth clients"):  # fmt: skip
        assert expected in run, expected


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(argv[:3]) for argv in COMMANDS])
def test_command_in_the_guide_exists(argv: list[str]) -> None:
    try:
        check_command(argv)
    except click.BadParameter as exc:
        # The guide's example files are not on this machine; everything else must parse.
        if "does not exist" not in exc.format_message():
            pytest.fail(f"`lnob {' '.join(argv)}`: {exc.format_message()}")
    except click.UsageError as exc:
        pytest.fail(f"`lnob {' '.join(argv)}`: {exc.format_message()}")
