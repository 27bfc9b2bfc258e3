"""deploy/compose.yaml against the Compose specification's JSON schema, and what the operator
relies on: each node and each secretariat service with its own PostgreSQL, migrations before
servers, healthchecks, and passwords only from the environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.deploy.deploy_files import COMPOSE, DEPLOY, compose, lnob_compose_services

SETTINGS = {f"LNOB_{name.upper()}" for name in Settings.model_fields}
SERVICES: dict[str, Any] = compose()["services"]
LNOB = lnob_compose_services()
SERVERS = {name: s for name, s in LNOB.items() if s["command"][1] == "serve"}
INITS = {name: s for name, s in LNOB.items() if s["command"][1] == "init"}
DATABASES = {
    name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("postgres:")
}


def check_against_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the Compose specification's schema, which it ships (offline)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_against_spec(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_off_the_specification_is_refused(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["node-a"]["healthcheck"]["interval"] = ["10s"]
    broken["services"]["node-a"]["restart_policy"] = "always"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = check_against_spec(path)
    assert result.returncode == 1
    assert "restart_policy" in result.stdout + result.stderr


def test_two_nodes_and_the_secretariat_each_with_its_own_database() -> None:
    roles = sorted(server["command"][0] for server in SERVERS.values())
    assert roles == ["auth", "coordinator", "node", "node"]
    used: list[str] = []
    for name, server in SERVERS.items():
        url = next(v for k, v in server["environment"].items() if k.endswith("DATABASE_URL"))
        host = re.search(r"@([^:/]+)", url)
        assert host is not None, f"{name}: {url}"
        assert host.group(1) in DATABASES, f"{name} uses {host.group(1)}"
        used.append(host.group(1))
    assert len(set(used)) == len(used) == 4


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_servers_start_after_their_database_and_migrations(name: str) -> None:
    server = SERVERS[name]
    depends = server["depends_on"]
    inits = [dep for dep in depends if dep in INITS]
    assert len(inits) == 1
    init = INITS[inits[0]]
    assert depends[inits[0]] == {"condition": "service_completed_successfully"}
    assert init["command"][0] == server["command"][0]  # the same role's migrations
    assert init["environment"] | server["environment"] == server["environment"]
    databases = [dep for dep in depends if dep in DATABASES]
    assert len(databases) == 1 and depends[databases[0]] == {"condition": "service_healthy"}
    assert init["depends_on"] == {databases[0]: {"condition": "service_healthy"}}
    assert init["restart"] == "no" and server["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", sorted(SERVERS) + sorted(DATABASES))
def test_long_running_services_have_healthchecks(name: str) -> None:
    check = SERVICES[name]["healthcheck"]["test"]
    if name in SERVERS:
        port = SERVERS[name]["command"][SERVERS[name]["command"].index("--port") + 1]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(check)
    else:
        assert "pg_isready" in " ".join(check)


@pytest.mark.parametrize("name", sorted(LNOB))
def test_product_containers_are_unprivileged_and_read_only(name: str) -> None:
    service = LNOB[name]
    assert service["user"] == "10001:10001"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    for key in service["environment"]:
        assert key in SETTINGS, f"{name}: {key} is not a setting"


def test_databases_are_reachable_only_from_their_own_services() -> None:
    networks = compose()["networks"]
    for database in DATABASES.values():
        (network,) = database["networks"]
        assert networks[network]["internal"] is True
        members = {n for n, s in SERVICES.items() if network in s.get("networks", [])}
        assert "ports" not in database
        assert all(member in DATABASES or member in LNOB for member in members), members


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    for name, service in LNOB.items():
        for key, value in service["environment"].items():
            if "DATABASE_URL" in key:
                password = re.search(r"://[^:]+:([^@]+)@", str(value))
                assert password and password.group(1).startswith("${"), f"{name}: {key}"
            if re.search(r"PASSWORD|PASSPHRASE|SECRET|TOKEN", key) and "LIFETIME" not in key:
                assert str(value).startswith("${"), f"{name}: {key}"
    for database in DATABASES.values():
        assert database["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
        assert "POSTGRES_PASSWORD" not in database["environment"]
    for secret in compose()["secrets"].values():
        assert set(secret) == {"environment"}, "secrets come from the environment"
    assert "BEGIN PRIVATE KEY" not in text


def test_the_environment_example_holds_no_password() -> None:
    example = (DEPLOY / ".env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    for key, value in values.items():
        if "PASSWORD" in key:
            assert value == "", f"{key} must be left empty in the example"
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    assert required <= set(values), required - set(values)
    ignored = (DEPLOY / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
