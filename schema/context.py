"""The typed GraphQL context of a node request, built in one place (`service.node_app`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session
from strawberry.types import Info

from auth.caller import Caller
from auth.keys import SigningKey
from auth.levels import Level
from service.node.coverage import CoverageCell
from service.node.decision_cache import DecisionCache
from service.node.disclosure import DisclosurePolicy
from service.node.filters import CellFilter
from service.reference import Reference
from service.settings import Settings


@dataclass
class Tally:
    """What a request released, for its audit entry."""

    cells_returned: int = 0
    cells_suppressed: int = 0
    datasets: set[str] = field(default_factory=set)


@dataclass
class NodeContext:
    caller: Caller
    session: Session
    settings: Settings
    policy: DisclosurePolicy
    reference: Reference
    signing_key: SigningKey
    # Shared by the node's requests; a context of its own decides every table afresh.
    decision_cache: DecisionCache | None = None
    tally: Tally = field(default_factory=Tally)
    # Coverage read during this request, by level and filter (`schema.node.coverage_of`).
    coverage_read: list[tuple[Level, CellFilter, Sequence[CoverageCell]]] = field(
        default_factory=list
    )


NodeInfo = Info[NodeContext, None]
