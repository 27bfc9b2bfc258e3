"""Run Alembic from the product (no alembic.ini needed): upgrade, downgrade, check for head."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from service.db import normalise_url

Branch = Literal["node", "coordinator", "auth"]


def alembic_config(url: str, branch: Branch) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["branch"] = branch
    return config


def upgrade(engine: Engine, branch: Branch, revision: str = "heads") -> None:
    """Bring the database to the branch's head (idempotent)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False), branch)
    target = f"{branch}@head" if revision == "heads" else revision
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def downgrade(engine: Engine, branch: Branch, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False), branch)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision(branch: Branch) -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://", branch))
    head = script.revision_map.get_current_head(branch)
    if head is None:
        raise RuntimeError(f"no head revision for branch {branch!r}")
    return head


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def at_head(engine: Engine, branch: Branch) -> bool:
    return head_revision(branch) in current_revisions(engine)
