"""Where opt-out lists come from: a text or CSV file of identifiers, or FHIR Consent resources."""

from __future__ import annotations

from pathlib import Path

from steward.errors import InputError
from steward.integration.optouts import OptOut, read_id_file


def read_opt_out_file(path: Path) -> list[OptOut]:
    """Opt-outs from ``path``: FHIR JSON (Consent or Bundle; ``.json``) or a list of ids.

    In a FHIR file, Consent resources that deny are opt-outs; anything in it that cannot be read
    as an opt-out is an error here, naming its path, so that no opt-out is silently missed.
    """
    if path.suffix.lower() != ".json":
        return read_id_file(path)
    from steward.integration.fhir.read import read_fhir_file

    batch = read_fhir_file(path)
    # a bad Observation does not hide an opt-out, but a bad Consent (or unreadable entry) might
    problems = [r for r in batch.rejected if r.resource_type in (None, "Consent")]
    if problems:
        shown = "; ".join(f"{r.path}: {r.reason}" for r in problems[:5])
        raise InputError(
            f"{path} has {len(problems)} Consent problem(s), so none of its opt-outs were "
            f"registered: {shown}."
        )
    if not batch.opt_outs:
        raise InputError(f"{path} holds no active Consent with provision.type = deny.")
    return batch.opt_outs
