"""Render an evaluation result document as one self-contained, accessible HTML page."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from steward.errors import InputError
from steward.evaluation.report.context import build_context
from steward.files import write_text_atomic


def render_html(result: Mapping[str, Any]) -> str:
    """Render a result document (as saved by ``steward evaluate --json``) as an HTML page.

    The page needs no network: styles are inline and charts are inline SVG. Every part of the
    document except its being a JSON object is optional; what is missing is left out.

    Parameters
    ----------
    result : Mapping
        The evaluation result document.

    Returns
    -------
    str
        A complete HTML document.

    Raises
    ------
    InputError
        If ``result`` is not a JSON object.

    Examples
    --------
    >>> page = render_html({"n": 120, "n_events": 30, "prevalence": 0.25})
    >>> page.startswith("<!doctype html>")
    True
    """
    if not isinstance(result, Mapping):
        raise InputError(
            "The evaluation result must be a JSON object as written by "
            f"'steward evaluate --json'; got {type(result).__name__}."
        )
    template = _environment().get_template("report.html.j2")
    return template.render(report=build_context(result))


def write_html(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Render ``result`` and write it to ``path`` (UTF-8); the file appears whole or not at all."""
    return write_text_atomic(path, render_html(result))


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("steward.evaluation.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
