"""The typed GraphQL context of a coordinator request, built in one place
(`service.coordinator_app`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from strawberry.types import Info

from federation.fanout import Federation
from service.reference import Reference
from service.settings import Settings


@dataclass
class CoordinatorContext:
    federation: Federation
    # Forwarded to every node unchanged: each node applies its own policy to the real caller.
    authorization: str | None
    settings: Settings
    sessions: sessionmaker[Session]  # the coordinator's own database (registry, official coverage)
    reference: Reference


CoordinatorInfo = Info[CoordinatorContext, None]
