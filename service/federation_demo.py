"""A whole federation on one laptop: the demo nodes, the coordinator and the secretariat's
authorization server as real processes, with a machine client for each role, a web client for
each dashboard, and a person to sign in as for each role."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from auth import clients, users
from auth.keys import load_or_create_key_file
from auth.tokens import Role
from service import migrate
from service.db import make_engine, make_session_factory
from service.node.demo import DEMO_ORGANISATIONS, DemoOrganisation, write_demo_files
from service.node.identity import init_node
from service.settings import load_settings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class PreparedNode:
    organisation: DemoOrganisation
    env: dict[str, str]
    cells: int


@dataclass
class RunningProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True, slots=True)
class DemoClient:
    """A client of the demo authorization server; its secret is shown once, as the CLI does."""

    role: Role
    client_id: str
    secret: str
    organisation: str | None = None
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A person to sign in to the dashboards as; the password is shown once, as the CLI does."""

    username: str
    password: str
    role: Role
    organisation: str | None
    name: str
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class DemoWebClient:
    """The web client of one dashboard (the coordinator's or a node's)."""

    app: str
    client_id: str
    secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class PreparedAuth:
    env: dict[str, str]
    clients: list[DemoClient]
    web_clients: dict[str, DemoWebClient]
    users: list[DemoUser]


@dataclass
class DemoFederation:
    folder: Path
    nodes: list[RunningProcess] = field(default_factory=list)
    coordinator: RunningProcess | None = None
    auth: RunningProcess | None = None
    clients: list[DemoClient] = field(default_factory=list)
    users: list[DemoUser] = field(default_factory=list)
    web_clients: dict[str, DemoWebClient] = field(default_factory=dict)

    @property
    def processes(self) -> list[RunningProcess]:
        others = [proc for proc in (self.coordinator, self.auth) if proc is not None]
        return [*self.nodes, *others]


def prepare_node(
    org: DemoOrganisation, folder: Path, *, seed: int = 2026,
    progress: Callable[[str], None] = lambda _message: None,
) -> PreparedNode:  # fmt: skip
    """Initialise a node's SQLite database and key in `folder/<node-id>/` and load its data."""
    from service.node.ingest import DatasetMeta, IngestOptions, ingest_file

    home = folder / org.node_id
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "LNOB_DATABASE_URL": f"sqlite:///{home / 'node.sqlite3'}",
        "LNOB_KEY_FILE": str(home / "node-key.pem"),
    }
    settings = load_settings(database_url=env["LNOB_DATABASE_URL"], key_file=env["LNOB_KEY_FILE"])
    engine = make_engine(settings.database_url)
    cells = 0
    try:
        init_node(engine, settings, name=org.name, organisation=org.organisation,
                  node_id=org.node_id)  # fmt: skip
        with Session(engine) as session:
            from auth.levels import Level
            from service.node.datasets import list_datasets

            loaded = {d.slug for d in list_datasets(session, level=Level.OWNER)}
        for dataset, path in write_demo_files(org, home / "data", seed=seed):
            if dataset.slug in loaded:
                continue
            progress(f"{org.node_id}: loading {dataset.slug}")
            report = ingest_file(
                engine,
                path,
                DatasetMeta(
                    slug=dataset.slug,
                    title=dataset.title,
                    organisation=org.organisation,
                    methodology=dataset.methodology,
                    collection_period=dataset.collection_period,
                    licence=dataset.licence,
                    contact=dataset.contact,
                    release_level=dataset.release_level,
                    discovery_level=dataset.discovery_level,
                    published=dataset.published,
                ),
                IngestOptions(format="tidy"),
                loaded_by="demo",
            )
            cells += report.rows_stored
    finally:
        engine.dispose()
    return PreparedNode(organisation=org, env=env, cells=cells)


def prepare_auth(folder: Path, issuer: str, apps: Mapping[str, str] | None = None) -> PreparedAuth:
    """What `lnob auth init` does, in `folder/auth/`, then one machine client per role
    (secretariat, government, and an ICSO client for each demo organisation), one web client per
    app in `apps` (name -> base URL, redirect URI `{url}/auth/callback`), and one person per
    role to sign in as. The database is new on every run (a secret or password can be shown only
    when it is created); the key is kept."""
    home = folder / "auth"
    home.mkdir(parents=True, exist_ok=True)
    for stale in home.glob("auth.sqlite3*"):
        stale.unlink()
    env = {
        "LNOB_AUTH_ISSUER": issuer,
        "LNOB_AUTH_DATABASE_URL": f"sqlite:///{home / 'auth.sqlite3'}",
        "LNOB_AUTH_KEY_FILE": str(home / "auth-key.pem"),
    }
    engine = make_engine(env["LNOB_AUTH_DATABASE_URL"])
    try:
        migrate.upgrade(engine, "auth")
        load_or_create_key_file(Path(env["LNOB_AUTH_KEY_FILE"]))
        with make_session_factory(engine).begin() as session:
            demo_clients = _add_machine_clients(session)
            web_clients = _add_web_clients(session, apps or {})
            demo_users = _add_users(session)
    finally:
        engine.dispose()
    return PreparedAuth(env, demo_clients, web_clients, demo_users)


def _add_machine_clients(session: Session) -> list[DemoClient]:
    wanted: list[tuple[Role, str, DemoOrganisation | None]] = [
        (Role.SECRETARIAT, "Demo secretariat", None),
        (Role.GOVERNMENT, "Demo ministry of planning", None),
        *((Role.ICSO, f"{org.organisation} data team", org) for org in DEMO_ORGANISATIONS),
    ]
    demo_clients = []
    for role, name, org in wanted:
        organisation = org.organisation if org else None
        record, secret = clients.add_client(
            session, name=name, role=role, organisation=organisation
        )
        node_id = org.node_id if org else None
        demo_clients.append(DemoClient(role, record.client_id, secret, organisation, node_id))
    return demo_clients


def _add_web_clients(session: Session, apps: Mapping[str, str]) -> dict[str, DemoWebClient]:
    web_clients = {}
    for app, url in apps.items():
        redirect_uri = f"{url.rstrip('/')}/auth/callback"
        record, secret = clients.add_client(
            session, name=f"Dashboard of {app}", role=None, redirect_uris=[redirect_uri]
        )
        web_clients[app] = DemoWebClient(app, record.client_id, secret, redirect_uri)
    return web_clients


def _add_users(session: Session) -> list[DemoUser]:
    wanted: list[tuple[str, str, Role, DemoOrganisation | None]] = [
        ("analyst", "Demo secretariat analyst", Role.SECRETARIAT, None),
        ("partner", "Demo government partner", Role.GOVERNMENT, None),
        *((org.node_id, f"Demo staff of {org.organisation}", Role.ICSO, org)
          for org in DEMO_ORGANISATIONS),
    ]  # fmt: skip
    demo_users = []
    for username, name, role, org in wanted:
        organisation = org.organisation if org else None
        record, password = users.add_user(
            session, username=username, name=name, role=role, organisation=organisation
        )
        node_id = org.node_id if org else None
        demo_users.append(
            DemoUser(record.username, password, role, organisation, record.name, node_id)
        )
    return demo_users


def web_env(issuer: str, web_client: DemoWebClient | None) -> dict[str, str]:
    """What a coordinator or node process needs to offer sign-in through `web_client`."""
    if web_client is None:
        return {}
    return {
        "LNOB_WEB_ISSUER": issuer,
        "LNOB_WEB_CLIENT_ID": web_client.client_id,
        "LNOB_WEB_CLIENT_SECRET": web_client.secret,
        # A fresh key per run: sessions of an earlier demo never carry over.
        "LNOB_SESSION_SECRET": secrets.token_urlsafe(32),
    }


def start_process(
    name: str, args: list[str], env: dict[str, str], port: int, *, log_dir: Path | None = None
) -> RunningProcess:
    """Start `lnob ARGS --host 127.0.0.1 --port PORT`; its log goes to a file, never to a pipe
    nobody reads (a full pipe would stall the server)."""
    log_path = (log_dir or Path(tempfile.gettempdir())) / f"lnob-{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, arguments built here
            [sys.executable, "-m", "service", *args, "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return RunningProcess(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log_path)


def wait_ready(proc: RunningProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            log = proc.log.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"{proc.name} exited during start-up:\n{log[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{proc.url}/readyz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not ready after {timeout:.0f} s")


def stop_all(processes: list[RunningProcess], timeout: float = 10.0) -> None:
    """Stop every process; a second Ctrl-C while stopping must not leave any behind."""
    previous = signal.getsignal(signal.SIGINT)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _stop(processes, timeout)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


def _stop(processes: list[RunningProcess], timeout: float) -> None:
    for proc in processes:
        if proc.process.poll() is None:
            proc.process.terminate()
    for proc in processes:
        try:
            proc.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait()


@contextlib.contextmanager
def run_demo_federation(
    folder: Path,
    *,
    coordinator_port: int | None = None,
    progress: Callable[[str], None] = lambda _message: None,
) -> Iterator[DemoFederation]:
    """Prepare and start the three demo nodes and a coordinator that has registered them;
    stop every process on exit, whatever happens."""
    from service.cli.coordinator import prepare_coordinator

    federation = DemoFederation(folder=folder)
    try:
        # The authorization server starts first and readies while the nodes load their data;
        # nodes fetch its keys only when the first token arrives.
        progress("authorization server: creating the clients and users")
        auth_port = free_port()
        issuer = f"http://127.0.0.1:{auth_port}"
        # Every app's port is chosen now: its web client's redirect URI names it.
        ports = {"coordinator": coordinator_port or free_port()}
        ports |= {org.node_id: free_port() for org in DEMO_ORGANISATIONS}
        auth = prepare_auth(
            folder, issuer, {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}
        )
        federation.clients, federation.users = auth.clients, auth.users
        federation.web_clients = auth.web_clients
        federation.auth = start_process(
            "auth", ["auth", "serve"], auth.env, auth_port, log_dir=folder
        )
        for org in DEMO_ORGANISATIONS:
            prepared = prepare_node(org, folder, progress=progress)
            progress(f"{org.node_id}: starting")
            env = {
                **prepared.env,
                "LNOB_TRUSTED_ISSUERS": issuer,
                **web_env(issuer, auth.web_clients.get(org.node_id)),
            }
            port = ports[org.node_id]
            proc = start_process(org.node_id, ["node", "serve"], env, port, log_dir=folder)
            federation.nodes.append(proc)
        for proc in [federation.auth, *federation.nodes]:
            wait_ready(proc)
        progress("coordinator: registering the nodes")
        registry_file = folder / "coordinator.sqlite3"
        # Nodes get new ports on every run: the demo's registry is rebuilt, never carried over.
        for stale in folder.glob("coordinator.sqlite3*"):
            stale.unlink()
        env = {"LNOB_COORDINATOR_DATABASE_URL": f"sqlite:///{registry_file}"}
        prepare_coordinator(
            load_settings(coordinator_database_url=env["LNOB_COORDINATOR_DATABASE_URL"]),
            [proc.url for proc in federation.nodes],
        )
        env |= web_env(issuer, auth.web_clients.get("coordinator"))
        federation.coordinator = start_process(
            "coordinator", ["coordinator", "serve"], env, ports["coordinator"], log_dir=folder
        )
        wait_ready(federation.coordinator)
        yield federation
    finally:
        stop_all(federation.processes)
