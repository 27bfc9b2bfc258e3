"""Alembic environment: runs against the connection or URL that `service.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, pool

from service.db import make_engine

config = context.config


def _target_metadata() -> MetaData | None:
    branch = config.attributes.get("branch", "node")
    if branch == "coordinator":
        from federation.models import CoordinatorBase

        return CoordinatorBase.metadata
    if branch == "auth":
        from auth.models import AuthBase

        return AuthBase.metadata
    from service.node.models import NodeBase

    return NodeBase.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=_target_metadata(),
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=_target_metadata(),
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
