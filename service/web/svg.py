"""Charts drawn on the server as SVG: a heatmap and a bar chart, no script, no CDN.

Colour is never the only signal: every heatmap cell carries a text label, every bar its value
or the word "suppressed", and every mark a `<title>` that browsers show as a tooltip and screen
readers read. Colours are Okabe-Ito (safe for the common colour-vision deficiencies); each
fill is paired with the text colour that reaches WCAG AA contrast on it (tests check the ratio).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Swatch:
    fill: str
    text: str
    label: str  # the short text drawn in the cell


# Gap statuses, worst first. Text colours are chosen for contrast on the fill (≥ 4.5:1).
STATUS_SWATCHES: Mapping[str, Swatch] = {
    "NO_DATA": Swatch("#D55E00", "#000000", "none"),  # vermillion
    "STALE": Swatch("#E69F00", "#000000", "stale"),  # orange
    "SINGLE_SOURCE": Swatch("#56B4E9", "#000000", "1 src"),  # sky blue
    "COVERED": Swatch("#009E73", "#000000", "2+ src"),  # bluish green
}
STATUS_NAMES: Mapping[str, str] = {
    "NO_DATA": "No data",
    "STALE": "Stale",
    "SINGLE_SOURCE": "Single source",
    "COVERED": "Covered",
}
BAR_FILL = "#0072B2"  # Okabe-Ito blue; text beside bars is the page's text colour
RANGE_STROKE = "#000000"
SUPPRESSED_FILL = "#FFFFFF"
SUPPRESSED_STROKE = "#595959"
DASHED = ' stroke-dasharray="4 3"'  # a range with no upper bound


@dataclass(frozen=True, slots=True)
class HeatCell:
    status: str
    label: str  # drawn in the cell (with the status's short label when empty)
    title: str  # the tooltip
    href: str | None = None


def heatmap(
    rows: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    cells: Mapping[tuple[str, str], HeatCell],
    *,
    caption: str,
    titles: Mapping[str, str] | None = None,
    cell_width: int = 64,
    cell_height: int = 30,
    label_width: int = 180,
    header_height: int = 96,
) -> Markup:
    """Rows × columns (each `(code, label)`), one coloured cell per `(row, column)` in `cells`
    (a missing one is left blank); a cell with `href` is a link reachable by keyboard.
    `titles` gives a row's or column's tooltip by code (its label otherwise)."""
    titles = titles or {}
    width = label_width + cell_width * len(columns)
    height = header_height + cell_height * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="{escape(caption)}">',
        f"<title>{escape(caption)}</title>",
    ]
    for index, (code, label) in enumerate(columns):
        x = label_width + index * cell_width + cell_width // 2
        parts.append(
            f'<text class="col-label" x="{x}" y="{header_height - 6}" '
            f'transform="rotate(-50 {x} {header_height - 6})">'
            f"<title>{escape(titles.get(code, label))}</title>"
            f"{escape(_short(label, 16))}</text>"
        )
    for r, (row_code, row_label) in enumerate(rows):
        y = header_height + r * cell_height
        parts.append(
            f'<text class="row-label" x="{label_width - 6}" y="{y + cell_height * 0.65:.1f}" '
            f'text-anchor="end"><title>{escape(row_label)}</title>'
            f"{escape(_short(row_label, 26))}</text>"
        )
        for c, (column_code, _) in enumerate(columns):
            cell = cells.get((row_code, column_code))
            if cell is not None:
                parts.append(
                    _heat_cell(cell, label_width + c * cell_width, y, cell_width, cell_height)
                )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text and attribute above is escaped


def _heat_cell(cell: HeatCell, x: int, y: int, width: int, height: int) -> str:
    swatch = STATUS_SWATCHES[cell.status]
    text = cell.label or swatch.label
    body = (
        f'<rect x="{x + 1}" y="{y + 1}" width="{width - 2}" height="{height - 2}" '
        f'fill="{swatch.fill}"/>'
        f'<text x="{x + width / 2:.1f}" y="{y + height * 0.65:.1f}" text-anchor="middle" '
        f'fill="{swatch.text}">{escape(text)}</text>'
    )
    marks = f'class="cell" data-status="{cell.status}"'
    title = f"<title>{escape(cell.title)}</title>"
    if cell.href is None:
        return f"<g {marks}>{title}{body}</g>"
    return (
        f'<a {marks} href="{escape(cell.href)}" aria-label="{escape(cell.title)}">{title}{body}</a>'
    )


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None  # None: no figure (suppressed, or a range only)
    low: float | None = None  # a range drawn as a line from low to high
    high: float | None = None
    suppressed: bool = False
    note: str = ""  # shown after the value ("suppressed: BELOW_THRESHOLD", "n=120")


def bar_chart(
    bars: Sequence[Bar],
    *,
    caption: str,
    unit: str = "",
    width: int = 560,
    bar_height: int = 22,
    label_width: int = 200,
    value_width: int = 170,
) -> Markup:
    """Horizontal bars from zero, with ranges as lines and suppressed bars as an outlined,
    hatched box labelled "suppressed"; a range without a top (high None) runs to the edge."""
    plot = max(width - label_width - value_width, 60)
    top = max([b.value or 0 for b in bars] + [b.high or b.low or 0 for b in bars] + [0.0]) or 1.0
    height = bar_height * len(bars) + 8

    def scale(value: float) -> float:
        return label_width + plot * max(value, 0) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(caption)}">',
        f"<title>{escape(caption)}</title>",
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" '
        f'stroke="{SUPPRESSED_STROKE}" stroke-width="2"/></pattern></defs>',
    ]
    for index, bar in enumerate(bars):
        y = 4 + index * bar_height
        mid = y + bar_height / 2
        shown = _bar_text(bar, unit)
        parts.append(f'<g class="bar" data-suppressed="{str(bar.suppressed).lower()}">')
        parts.append(f"<title>{escape(bar.label)}: {escape(shown)}</title>")
        parts.append(
            f'<text x="{label_width - 6}" y="{mid + 4:.1f}" text-anchor="end">'
            f"{escape(_short(bar.label, 30))}</text>"
        )
        if bar.suppressed:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{plot * 0.25:.1f}" '
                f'height="{bar_height - 6}" fill="url(#hatch)" stroke="{SUPPRESSED_STROKE}"/>'
            )
        elif bar.value is not None:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{scale(bar.value) - label_width:.1f}" '
                f'height="{bar_height - 6}" fill="{BAR_FILL}"/>'
            )
        if bar.low is not None:
            end = scale(bar.high) if bar.high is not None else label_width + plot
            parts.append(
                f'<line x1="{scale(bar.low):.1f}" y1="{mid:.1f}" x2="{end:.1f}" y2="{mid:.1f}" '
                f'stroke="{RANGE_STROKE}" stroke-width="3"'
                f"{'' if bar.high is not None else DASHED}/>"
            )
        parts.append(
            f'<text x="{label_width + plot + 6}" y="{mid + 4:.1f}">{escape(shown)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text and attribute above is escaped


def _bar_text(bar: Bar, unit: str) -> str:
    if bar.suppressed:
        text = "suppressed"
    elif bar.value is not None:
        text = f"{_number(bar.value)} {unit}".strip()
    elif bar.low is not None:
        high = "…" if bar.high is None else _number(bar.high)
        text = f"{_number(bar.low)} to {high} {unit}".strip()
    else:
        text = "no figure"
    return f"{text} ({bar.note})" if bar.note else text


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
