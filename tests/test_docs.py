"""Documentation stays true to the code: every command, option, spec field and metric."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import BaseModel

from steward.cli.main import app
from steward.evaluation.criteria import ALIASES, DERIVED
from steward.evaluation.result import METRIC_KEYS, THRESHOLD_METRIC_KEYS
from steward.evaluation.spec import EvaluationSpec

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOT_COMMAND = typer.main.get_command(app)


# Typer ships its own copy of click, so commands are recognised by shape, not by class.
def _commands(group: Any, prefix: str = "steward") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if hasattr(group, "commands"):
        for name, command in sorted(group.commands.items()):
            path = f"{prefix} {name}"
            found.append((path, command))
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(ROOT_COMMAND)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path: str, command: Any) -> None:
    cli_doc = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert f"`{path}" in cli_doc, f"{path} is not documented in docs/cli.md"
    if hasattr(command, "commands"):
        return
    documented = cli_doc + (DOCS / "evaluation.md").read_text(encoding="utf-8")
    for param in command.params:
        if param.param_type_name == "option":
            names = [n for n in param.opts if n.startswith("--")]
            if names and names[0] != "--help":
                in_code = re.search(rf"`[^`]*{re.escape(names[0])}\b[^`]*`", documented)
                assert in_code, f"{path} {names[0]} is not documented"


def _spec_fields(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _spec_fields(annotation)
    return names


def test_every_spec_field_appears_in_the_example_spec() -> None:
    text = (DOCS / "evaluation.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    for name in _spec_fields(EvaluationSpec):
        assert re.search(rf"^\s*{name}:", example.group(1), re.M), f"spec field {name} undocumented"


def test_every_metric_name_is_documented() -> None:
    text = (DOCS / "evaluation.md").read_text(encoding="utf-8")
    for name in (*METRIC_KEYS, *THRESHOLD_METRIC_KEYS, *DERIVED, "auroc_difference"):
        assert f"`{name}`" in text, f"metric {name} is not documented"
    for alias in ("tpr", "tnr"):
        assert alias in ALIASES
        assert f"`{alias}`" in text


def test_every_setting_is_documented() -> None:
    from steward.config import Settings

    text = (DOCS / "registry.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = f"STEWARD_{name.upper()}"
        assert f"`{variable}`" in text, f"{variable} is not documented in docs/registry.md"
