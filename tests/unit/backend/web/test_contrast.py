"""Text colours in the stylesheet keep a contrast of at least 4.5:1 (WCAG AA) with their backgrounds."""

from __future__ import annotations

import re
from importlib import resources

import pytest

CSS = resources.files("backend.web").joinpath("static/style.css").read_text()
COLOURS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", CSS))

#: (text, background) pairs as the stylesheet uses them.
PAIRS = [
    ("fg", "bg"), ("muted", "bg"), ("link", "bg"), ("ok", "bg"), ("bad", "bg"), ("wait", "bg"),
    ("code-fg", "code-bg"), ("header-fg", "header-bg"), ("link", "code-bg"),
]  # fmt: skip


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert contrast("#777777", "#ffffff") < 4.5 < contrast("#767676", "#ffffff")


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast(text: str, background: str) -> None:
    assert contrast(COLOURS[text], COLOURS[background]) >= 4.5


def test_bars_and_borders_stand_out() -> None:
    # Non-text elements need 3:1 (WCAG 1.4.11).
    assert contrast(COLOURS["bar"], COLOURS["bg"]) >= 3
    assert contrast(COLOURS["border"], COLOURS["bg"]) >= 3
    assert contrast(COLOURS["bar"], COLOURS["track"]) >= 3
