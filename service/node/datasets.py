"""Datasets as their owners manage them: listing, levels, and the node's data version."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.db import utcnow
from service.errors import BadRequest, NotFound
from service.node import audit
from service.node.models import Dataset, DatasetVersion


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    slug: str
    title: str
    organisation: str
    methodology: str | None
    collection_period: str | None
    licence: str | None
    contact: str | None
    release_level: Level
    discovery_level: Level
    published: bool
    version: int | None
    cell_count: int
    updated_at: dt.datetime


def list_datasets(
    session: Session, *, level: Level, slugs: Sequence[str] | None = None
) -> list[DatasetInfo]:
    """Datasets whose discovery level the caller reaches (the owner's level sees all)."""
    query = (
        select(Dataset, DatasetVersion.version, DatasetVersion.row_count)
        .outerjoin(DatasetVersion, DatasetVersion.id == Dataset.current_version_id)
        .where(Dataset.discovery_level <= int(level))
        .order_by(Dataset.slug)
    )
    if slugs is not None:
        query = query.where(Dataset.slug.in_(list(slugs)))
    return [
        DatasetInfo(
            slug=dataset.slug,
            title=dataset.title,
            organisation=dataset.organisation,
            methodology=dataset.methodology,
            collection_period=dataset.collection_period,
            licence=dataset.licence,
            contact=dataset.contact,
            release_level=Level(dataset.release_level),
            discovery_level=Level(dataset.discovery_level),
            published=dataset.published,
            version=version,
            cell_count=row_count or 0,
            updated_at=dataset.updated_at,
        )
        for dataset, version, row_count in session.execute(query)
    ]


def check_levels(release_level: Level, discovery_level: Level) -> None:
    if discovery_level > release_level:
        raise BadRequest(
            f"discovery level {discovery_level.label} is stricter than release level "
            f"{release_level.label}: the stocktake must be able to show what exists"
        )


def set_levels(
    session: Session,
    slug: str,
    *,
    by: str,
    release_level: Level | None = None,
    discovery_level: Level | None = None,
) -> DatasetInfo:
    """Change who sees a dataset, recording who did it in the audit log (same transaction)."""
    dataset = session.execute(select(Dataset).where(Dataset.slug == slug)).scalar_one_or_none()
    if dataset is None:
        raise NotFound(f"no dataset {slug!r} on this node")
    before = (Level(dataset.release_level), Level(dataset.discovery_level))
    release = release_level if release_level is not None else before[0]
    discovery = discovery_level if discovery_level is not None else before[1]
    if release_level is not None and discovery_level is None and discovery > release:
        discovery = release  # tightening release also tightens discovery, never the reverse
    check_levels(release, discovery)
    dataset.release_level, dataset.discovery_level = int(release), int(discovery)
    dataset.updated_at = utcnow()
    audit.append(
        session,
        audit.AuditRecord(
            caller=by,
            level=Level.OWNER.label,
            action="release",
            operation=f"release {slug}",
            detail={
                "dataset": slug,
                "release_level": [before[0].label, release.label],
                "discovery_level": [before[1].label, discovery.label],
            },
        ),
    )
    session.flush()
    return list_datasets(session, level=Level.OWNER, slugs=[slug])[0]


def data_version(session: Session) -> str:
    """Changes whenever any dataset's cells or levels change: coordinators drop caches on it."""
    row = session.execute(
        select(
            func.count(Dataset.id),
            func.max(Dataset.current_version_id),
            func.max(Dataset.updated_at),
        )
    ).one()
    digest = hashlib.sha256("|".join(str(part) for part in row).encode()).hexdigest()
    return digest[:16]
