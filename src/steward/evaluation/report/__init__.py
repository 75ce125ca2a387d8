"""The local validation report: a result document in, one self-contained HTML page out."""

from steward.evaluation.report.html import render_html, write_html

__all__ = ["render_html", "write_html"]
