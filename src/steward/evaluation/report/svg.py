"""matplotlib figures as inline SVG: one drawing style, text kept as text, ids unique per page.

Output is deterministic for the same input (fixed hash salt, no date metadata) and carries no
reference to anything outside the page.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from markupsafe import Markup, escape
from matplotlib.figure import Figure

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "steward-report",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "axes.edgecolor": "#333333",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "lines.linewidth": 1.8,
}
# matplotlib's rcParams are global; one chart is drawn at a time.
_LOCK = threading.Lock()
_PT_TO_PX = 4 / 3


@dataclass(frozen=True)
class Margins:
    """Figure margins in inches (spacing between panels as a fraction of a panel).

    Fixed margins instead of a layout engine: measuring every text twice per figure was most
    of the time a report took to render.
    """

    left: float
    bottom: float
    right: float = 0.15
    top: float = 0.15
    wspace: float = 0.0
    hspace: float = 0.0


@contextmanager
def figure(width: float, height: float, margins: Margins) -> Iterator[Figure]:
    """A figure of ``width`` x ``height`` inches in the report's style; draw and save inside."""
    with _LOCK, matplotlib.rc_context(_RC), warnings.catch_warnings():
        # Text stays text in the SVG and the browser draws it, so a glyph missing from
        # matplotlib's font (a level name in another script) only skews the layout slightly.
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(
            left=margins.left / width,
            right=1 - margins.right / width,
            bottom=margins.bottom / height,
            top=1 - margins.top / height,
            wspace=margins.wspace,
            hspace=margins.hspace,
        )
        yield fig


def to_svg(fig: Figure) -> str:
    """The figure as an SVG document (call inside :func:`figure`, whose settings it needs)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_FONT_FAMILY = re.compile(r";?\s*font-family:[^;\"]*")
_ID = re.compile(r'\sid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|xlink:href="#)([^)"]+)')
_SIZE = re.compile(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"')


def inline(raw: str, chart_id: str, label: str) -> Markup:
    """matplotlib's SVG document made into an element fit to sit inside an HTML page."""
    label = "".join(ch if ch.isprintable() else " " for ch in label)
    svg = _METADATA.sub("", _PROLOGUE.sub("", raw, count=1))
    svg = _FONT_FAMILY.sub("", svg)  # the page font applies instead
    referenced = {match.group(2) for match in _REFERENCE.finditer(svg)}

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        return f' id="{chart_id}-{name}"' if name in referenced else ""

    svg = _ID.sub(rename, svg)
    svg = _REFERENCE.sub(lambda m: f"{m.group(1)}{chart_id}-{m.group(2)}", svg)

    def size(match: re.Match[str]) -> str:
        width = float(match.group(2)) * _PT_TO_PX
        height = float(match.group(3)) * _PT_TO_PX
        return f'<svg{match.group(1)} width="{width:.0f}" height="{height:.0f}"'

    svg = _SIZE.sub(size, svg, count=1)
    opening = f'<svg id="{chart_id}" class="chart" role="img" aria-label="{escape(label)}"'
    svg = svg.replace("<svg", opening, 1)
    start = svg.index(">") + 1
    svg = f"{svg[:start]}<title>{escape(label)}</title>{svg[start:]}"
    return Markup(svg.strip())
