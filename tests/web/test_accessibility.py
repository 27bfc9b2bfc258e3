"""Colour contrast (WCAG 2.1 AA: 4.5:1 for text) of the palette and the stylesheet, and the
charts' text alternatives; the signed-in person's session and its expiry."""

from __future__ import annotations

import re
import time

import pytest

from service.web.signin import WebUser, local_path
from service.web.svg import (
    BAR_FILL,
    STATUS_SWATCHES,
    Bar,
    HeatCell,
    bar_chart,
    heatmap,
)
from service.web.templating import STATIC

CSS = (STATIC / "dashboard.css").read_text(encoding="utf-8")
VARIABLES = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("status", sorted(STATUS_SWATCHES))
def test_every_status_label_is_readable_on_its_colour(status: str) -> None:
    swatch = STATUS_SWATCHES[status]
    assert contrast(swatch.text, swatch.fill) >= 4.5
    assert swatch.label  # colour is never the only signal


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("text", "background"), ("text", "panel"), ("muted", "background"), ("muted", "panel"),
        ("link", "background"), ("link", "panel"), ("focus", "background"),
        ("no-data", None), ("stale", None), ("single", None), ("covered", None),
    ],
)  # fmt: skip
def test_stylesheet_text_colours_meet_aa(text: str, background: str | None) -> None:
    if background is None:  # status badges: black text on the status colour
        assert contrast("#000000", VARIABLES[text]) >= 4.5
    else:
        assert contrast(VARIABLES[text], VARIABLES[background]) >= 4.5


def test_buttons_and_bars_are_readable() -> None:
    assert contrast("#ffffff", VARIABLES["accent"]) >= 4.5  # button text
    assert contrast(BAR_FILL, "#ffffff") >= 3.0  # a graphical object (WCAG 1.4.11)


def test_charts_carry_text_for_every_mark_and_escape_it() -> None:
    picture = heatmap(
        [("1.1.1", "1.1.1 <b>poverty</b>")],
        [("PWD", "PWD")],
        {("1.1.1", "PWD"): HeatCell("NO_DATA", "", "no data & nobody", "/gaps/cell?a=1&b=2")},
        caption="Gaps <caption>",
    )
    assert "<b>" not in picture and "&lt;b&gt;poverty" in picture
    assert '<a class="cell" data-status="NO_DATA" href="/gaps/cell?a=1&amp;b=2"' in picture
    assert "<title>no data &amp; nobody</title>" in picture and ">none</text>" in picture
    bars = bar_chart(
        [Bar("Org A", 12.0, note="n=40"), Bar("Org B", None, suppressed=True, note="BELOW"),
         Bar("Pooled", None, low=12.0, high=None)],
        caption="Figures", unit="PERCENT",
    )  # fmt: skip
    assert "12 PERCENT (n=40)" in bars
    assert "suppressed (BELOW)" in bars and 'data-suppressed="true"' in bars
    assert "12 to … PERCENT" in bars and "stroke-dasharray" in bars


def test_an_expired_token_is_a_signed_out_person() -> None:
    data = {"subject": "u1", "name": "Ana", "organisation": None, "role": "government",
            "access_token": "t", "expires_at": time.time() + 60}  # fmt: skip
    user = WebUser.from_session(data)
    assert user is not None and not user.expired()
    assert user.authorization == "Bearer t" and user.level == "government"
    assert user.expired(now=time.time() + 61)
    assert WebUser.from_session({"name": "no token"}) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/gaps?country=KEN", "/gaps?country=KEN"), ("//evil.example", "/"),
     ("https://evil.example/", "/"), ("/\\evil", "/"), (None, "/")],
)  # fmt: skip
def test_after_sign_in_only_local_pages_are_opened(target: str | None, expected: str) -> None:
    assert local_path(target) == expected
