"""One settings object, read from `LNOB_…` environment variables. README documents every field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auth.levels import Level
from service.errors import ConfigError

# The federation's minimum disclosure policy (DESIGN.md): a node may tighten it, never loosen it.
FEDERATION_MIN_THRESHOLD: dict[Level, int] = {
    Level.PUBLIC: 10,
    Level.GOVERNMENT: 10,
    Level.COALITION: 5,
    Level.OWNER: 1,
}
FEDERATION_MIN_ROUNDING: dict[Level, int] = {
    Level.PUBLIC: 5,
    Level.GOVERNMENT: 5,
    Level.COALITION: 1,
    Level.OWNER: 1,
}


class Settings(BaseSettings):
    """Settings of a node or a coordinator process."""

    model_config = SettingsConfigDict(env_prefix="LNOB_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///lnob-node.sqlite3",
        description="SQLAlchemy URL of this process's database; a SQLite file by default.",
    )
    key_file: Path = Field(
        default=Path("lnob-node-key.pem"),
        description="Ed25519 private key the node signs with (PEM, created mode 0600 by init).",
    )
    key_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase that encrypts the key file, if any."
    )

    key_overlap_hours: int = Field(
        default=168,
        ge=1,
        description="Hours a retired signing key still verifies after `lnob node keys rotate`.",
    )

    threshold_public: int = Field(default=10, description="Smallest base n released to public.")
    threshold_government: int = Field(default=10, description="Smallest base n for government.")
    threshold_coalition: int = Field(default=5, description="Smallest base n for coalition.")
    threshold_owner: int = Field(default=1, description="Smallest base n for the owner.")
    rounding_public: int = Field(default=5, description="Counts are rounded to this base (public).")
    rounding_government: int = Field(default=5, description="Rounding base for government.")
    rounding_coalition: int = Field(default=1, description="Rounding base for coalition.")
    rounding_owner: int = Field(default=1, description="Rounding base for the owner.")

    max_page_size: int = Field(default=1000, description="Largest `first` a connection accepts.")
    max_query_depth: int = Field(default=12, description="Deepest GraphQL selection accepted.")
    max_aliases: int = Field(default=30, description="Most aliases in one GraphQL document.")
    max_tokens: int = Field(default=5000, description="Most lexical tokens in one document.")
    max_body_bytes: int = Field(default=1_000_000, description="Largest request body, in bytes.")
    graphiql: bool = Field(default=True, description="Serve GraphiQL to browsers at /graphql.")
    introspection: bool = Field(default=True, description="Answer GraphQL introspection queries.")
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests one client (bearer token, else IP address) may make per minute, "
        "per process; 0 = no limit.",
    )
    rate_limit_burst: int = Field(
        default=120, ge=1, description="Requests one client may make at once before the limit."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (comma-separated or a JSON list; "
        "`*` = any); none = no CORS headers.",
    )
    hsts_seconds: int = Field(
        default=0,
        ge=0,
        description="`max-age` of Strict-Transport-Security; set only when served over https "
        "(0 = header not sent).",
    )

    node_timeout: float = Field(
        default=5.0, description="Coordinator: seconds to wait for one node's answer."
    )
    fanout_concurrency: int = Field(
        default=64,
        description="Coordinator: most node requests in flight at once (at least the number "
        "of registered nodes, so that one question asks every node at once).",
    )
    fanout_deadline: float = Field(
        default=15.0, description="Coordinator: seconds after which a federated answer is given."
    )
    fanout_retry_backoff: float = Field(
        default=0.2, description="Coordinator: seconds before the one retry on connection errors."
    )
    coverage_cache_seconds: float = Field(
        default=30.0, description="Coordinator: how long a node's coverage is reused (0 = never)."
    )
    coordinator_database_url: str = Field(
        default="sqlite:///lnob-coordinator.sqlite3",
        description="Coordinator: SQLAlchemy URL of the registry and reference tables.",
    )

    trusted_issuers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Node: issuer URLs whose access tokens it accepts (comma-separated or a "
        "JSON list); none = every caller is public.",
    )
    allowed_clients: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Node: if set, only these clients (`sub`, or `iss#sub`) get their token's "
        "level; any other valid token is served as public, and the audit log says why.",
    )
    token_audience: str = Field(
        default="lnob-federation",
        description="Audience (`aud`) every access token must name; one value for the federation.",
    )
    token_role_claim: str = Field(
        default="role",
        description="Node: claim holding the caller's role (secretariat, government, icso); "
        "a dotted path such as `realm_access.roles` reaches into nested claims.",
    )
    token_org_claim: str = Field(
        default="org", description="Node: claim holding an ICSO caller's organisation."
    )
    token_clock_skew: int = Field(
        default=60, ge=0, le=300, description="Node: seconds of clock difference tolerated."
    )
    jwks_cache_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Node: seconds an issuer's keys are reused (an unknown key id refreshes them).",
    )
    token_lifetime: int = Field(
        default=600,
        ge=30,
        le=3600,
        description="Authorization server: seconds an access token lives.",
    )
    auth_issuer: str = Field(
        default="http://127.0.0.1:8200",
        description="Authorization server: its issuer URL (`iss`), as clients and nodes reach it; "
        "https except on loopback.",
    )
    auth_key_file: Path = Field(
        default=Path("lnob-auth-key.pem"),
        description="Authorization server: Ed25519 key that signs access tokens (PEM, mode 0600).",
    )
    auth_key_passphrase: SecretStr | None = Field(
        default=None, description="Authorization server: passphrase of its key file, if any."
    )
    auth_database_url: str = Field(
        default="sqlite:///lnob-auth.sqlite3",
        description="Authorization server: SQLAlchemy URL of its client registry.",
    )

    dashboard: bool = Field(
        default=True, description="Serve the web dashboard at `/` (pages, `/static`, `/auth`)."
    )
    web_issuer: str | None = Field(
        default=None,
        description="Dashboard: OpenID Connect issuer people sign in with (discovery at "
        "`{issuer}/.well-known/openid-configuration`); none = the first of "
        "LNOB_TRUSTED_ISSUERS.",
    )
    web_client_id: str | None = Field(
        default=None,
        description="Dashboard: its client id at the issuer; sign-in is offered only when set.",
    )
    web_client_secret: SecretStr | None = Field(
        default=None, description="Dashboard: its client secret at the issuer."
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Dashboard: key that signs the session cookie; none = a random key per "
        "process, so sessions end on restart (and differ between replicas).",
    )

    @field_validator("trusted_issuers", "cors_origins", "allowed_clients", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.replace(",", " ").split() if part]
        return value

    @field_validator("trusted_issuers")
    @classmethod
    def _issuers_are_secure(cls, value: list[str]) -> list[str]:
        for issuer in value:
            _check_issuer_url(issuer)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            exact = f"{parts.scheme}://{parts.netloc}"
            if origin != "*" and (parts.scheme not in ("http", "https") or origin != exact):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value

    @field_validator("auth_issuer")
    @classmethod
    def _auth_issuer_is_secure(cls, value: str) -> str:
        _check_issuer_url(value)
        return value

    @field_validator("web_issuer")
    @classmethod
    def _web_issuer_is_secure(cls, value: str | None) -> str | None:
        if value is not None:
            _check_issuer_url(value)
        return value

    @model_validator(mode="after")
    def _not_looser_than_federation(self) -> Self:
        problems = []
        for level in Level:
            k = self.threshold_for(level)
            base = self.rounding_for(level)
            if k < FEDERATION_MIN_THRESHOLD[level]:
                problems.append(
                    f"LNOB_THRESHOLD_{level.name}={k} is looser than the federation minimum "
                    f"{FEDERATION_MIN_THRESHOLD[level]}"
                )
            if base < FEDERATION_MIN_ROUNDING[level]:
                problems.append(
                    f"LNOB_ROUNDING_{level.name}={base} is looser than the federation minimum "
                    f"{FEDERATION_MIN_ROUNDING[level]}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def sign_in_issuer(self) -> str | None:
        """The issuer the dashboard signs people in with: LNOB_WEB_ISSUER, else the first
        trusted issuer."""
        if self.web_issuer is not None:
            return self.web_issuer
        return self.trusted_issuers[0] if self.trusted_issuers else None

    def threshold_for(self, level: Level) -> int:
        return int(getattr(self, f"threshold_{level.label}"))

    def rounding_for(self, level: Level) -> int:
        return int(getattr(self, f"rounding_{level.label}"))


def _check_issuer_url(url: str) -> None:
    """An issuer is an https URL without query or fragment (RFC 8414); plain http only on
    loopback, where nothing crosses a network."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an issuer URL (https://host[/path])")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(f"issuer {url!r} must use https")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and overrides), failing with the key's name."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = "LNOB_" + "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{key}: {message}" if error["loc"] else message)
        raise ConfigError("invalid settings: " + "; ".join(lines)) from None
