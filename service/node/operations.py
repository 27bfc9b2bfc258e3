"""What a node's operators look at: recent ingests, the audit log's tail, and "see as" previews.

Plain functions over a session, no HTTP. A preview goes through the same functions the API
answers with (`datasets.list_datasets`, `coverage.coverage`, `observations.read_page`), so what
it shows a `public`, `government` or `coalition` caller getting is what they would get.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.levels import Level
from service.node import audit
from service.node.coverage import coverage
from service.node.datasets import DatasetInfo, list_datasets
from service.node.decision_cache import DecisionCache
from service.node.disclosure import DisclosurePolicy, LevelRule, Reason
from service.node.filters import CellFilter
from service.node.models import AuditEntry, AuditHead, Dataset, DatasetVersion
from service.node.observations import ReleasedCell, iterate_cells

# Levels a preview can take: the owner sees everything already.
PREVIEW_LEVELS: tuple[Level, ...] = (Level.PUBLIC, Level.GOVERNMENT, Level.COALITION)


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """One stored version of a dataset: who loaded which file, when, and what became of its rows."""

    dataset: str
    version: int
    current: bool
    loaded_by: str
    loaded_at: dt.datetime
    source_file: str
    source_format: str
    source_sha256: str
    rows_read: int
    rows_stored: int
    rows_excluded: int


def recent_ingests(session: Session, limit: int = 20) -> list[IngestSummary]:
    """The last `limit` ingests that were stored, newest first (refused ingests store nothing)."""
    query = (
        select(DatasetVersion, Dataset.slug, Dataset.current_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id.desc())
        .limit(limit)
    )
    return [
        IngestSummary(
            dataset=slug,
            version=version.version,
            current=version.id == current_id,
            loaded_by=version.loaded_by,
            loaded_at=version.created_at,
            source_file=version.source_file,
            source_format=version.source_format,
            source_sha256=version.source_sha256,
            # A stored ingest keeps or excludes every row it reads: anything else refuses it.
            rows_read=version.row_count + version.rows_excluded,
            rows_stored=version.row_count,
            rows_excluded=version.rows_excluded,
        )
        for version, slug, current_id in session.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class AuditLine:
    seq: int
    at: dt.datetime
    caller: str
    level: str
    action: str
    operation: str
    cells_returned: int
    cells_suppressed: int
    intact: bool  # its hash matches its content and it follows the entry before it


@dataclass(frozen=True, slots=True)
class AuditTail:
    """The newest entries, newest first, and whether they hold together with the chain's head.

    Checking the tail costs as much as the tail; `full` is set only when the whole chain was
    verified on request, since that reads every entry the node ever wrote.
    """

    entries: Sequence[AuditLine]
    total: int
    problems: Sequence[audit.ChainProblem]
    full: audit.Verification | None

    @property
    def ok(self) -> bool:
        return not self.problems and (self.full is None or self.full.ok)


def audit_tail(session: Session, limit: int = 30, *, verify_all: bool = False) -> AuditTail:
    """The last `limit` audit entries, each rechecked against its hash and its predecessor."""
    newest_first = audit.recent(session, limit + 1)  # one more: the first shown entry's parent
    shown = newest_first[:limit]
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    problems: list[audit.ChainProblem] = []
    if head is None:
        problems.append(audit.ChainProblem(0, "the chain head is missing"))
    elif shown and (head.seq != shown[0].seq or head.entry_hash != shown[0].entry_hash):
        problems.append(
            audit.ChainProblem(head.seq, f"removed: the log ends at entry {shown[0].seq}")
        )
    elif not shown and head.seq != 0:
        problems.append(audit.ChainProblem(head.seq, "removed: the log is empty"))
    lines = []
    for position, entry in enumerate(shown):
        parent = newest_first[position + 1] if position + 1 < len(newest_first) else None
        entry_problems = _entry_problems(entry, parent)
        problems.extend(entry_problems)
        lines.append(_line(entry, intact=not entry_problems))
    return AuditTail(
        entries=lines,
        total=head.seq if head is not None else 0,
        problems=problems,
        full=audit.verify(session) if verify_all else None,
    )


def _entry_problems(entry: AuditEntry, parent: AuditEntry | None) -> list[audit.ChainProblem]:
    problems = []
    if parent is None:
        if entry.seq == 1 and entry.prev_hash != audit.GENESIS_HASH:
            problems.append(audit.ChainProblem(entry.seq, "does not start the chain"))
    else:
        if parent.seq != entry.seq - 1:
            problems.append(
                audit.ChainProblem(entry.seq - 1, f"missing (entry before is {parent.seq})")
            )
        if entry.prev_hash != parent.entry_hash:
            problems.append(audit.ChainProblem(entry.seq, "does not follow the entry before it"))
    if audit.altered(entry):
        problems.append(
            audit.ChainProblem(entry.seq, "altered: its content does not match its hash")
        )
    return problems


def _line(entry: AuditEntry, *, intact: bool) -> AuditLine:
    return AuditLine(
        seq=entry.seq,
        at=entry.at,
        caller=entry.caller,
        level=entry.level,
        action=entry.action,
        operation=entry.operation,
        cells_returned=entry.cells_returned,
        cells_suppressed=entry.cells_suppressed,
        intact=intact,
    )


@dataclass(frozen=True, slots=True)
class DatasetPreview:
    """One dataset as a caller at the preview's level meets it."""

    dataset: DatasetInfo  # as its owner sees it
    listed: bool  # the caller may know it exists (datasets, stocktake)
    values_visible: bool  # the caller may read its cells
    coverage_cells: int  # cells the caller's stocktake counts for it (0 when not listed)
    cells_released: int
    cells_suppressed: int
    reasons: Mapping[Reason, int]
    counted_all: bool  # False when counting stopped at the preview's cap
    sample: Sequence[ReleasedCell]  # the first cells, exactly as the caller receives them
    # The first suppressed cells, as received: what the rules hid, which the sample may miss.
    suppressed_sample: Sequence[ReleasedCell]


@dataclass(frozen=True, slots=True)
class SeeAs:
    level: Level
    rule: LevelRule
    datasets: Sequence[DatasetPreview]


def see_as(
    session: Session,
    level: Level,
    policy: DisclosurePolicy,
    *,
    sample_size: int = 10,
    max_cells: int = 50_000,
    decision_cache: DecisionCache | None = None,
) -> SeeAs:
    """What a caller at `level` gets from this node, dataset by dataset.

    Counts of released and suppressed cells stop after `max_cells` per dataset (a preview must
    stay quick on a large store); `counted_all` says when that happened.
    """
    listed = {info.slug for info in list_datasets(session, level=level)}
    stocktake: Counter[str] = Counter()
    readable: set[str] = set()
    for cell in coverage(session, level=level, cell_filter=CellFilter()):
        stocktake[cell.dataset] += cell.cell_count
        if cell.values_visible:
            readable.add(cell.dataset)
    previews = []
    for info in list_datasets(session, level=Level.OWNER):
        released = suppressed = 0
        reasons: Counter[Reason] = Counter()
        sample: list[ReleasedCell] = []
        suppressed_sample: list[ReleasedCell] = []
        counted_all = True
        if info.slug in readable:
            cells = iterate_cells(
                session,
                level=level,
                policy=policy,
                cell_filter=CellFilter(datasets=[info.slug]),
                decision_cache=decision_cache,
            )
            for seen, released_cell in enumerate(itertools.islice(cells, max_cells + 1)):
                if seen == max_cells:
                    counted_all = False
                    break
                if len(sample) < sample_size:
                    sample.append(released_cell)
                if released_cell.suppression is None:
                    released += 1
                else:
                    suppressed += 1
                    reasons[released_cell.suppression] += 1
                    if len(suppressed_sample) < sample_size:
                        suppressed_sample.append(released_cell)
        previews.append(
            DatasetPreview(
                dataset=info,
                listed=info.slug in listed,
                values_visible=info.slug in readable,
                coverage_cells=stocktake[info.slug],
                cells_released=released,
                cells_suppressed=suppressed,
                reasons=dict(reasons),
                counted_all=counted_all,
                sample=sample,
                suppressed_sample=suppressed_sample,
            )
        )
    return SeeAs(level=level, rule=policy.for_level(level), datasets=previews)
