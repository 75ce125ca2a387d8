"""Patient opt-outs as data: the digest that identifies an opted-out patient, and opt-out lists
read from files.

Patient identifiers are kept only as SHA-256 digests of the pseudonymous id (as text, trimmed):
the register (:mod:`steward.integration.optout_register`) and the append-only audit trail never
hold the identifier itself, and evaluation and monitoring match rows by hashing their patient
column the same way. This module needs no database, so ``steward evaluate`` loads it quickly.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from steward.errors import InputError

#: Column names a CSV file of opt-outs may use for the patient identifier (compared lower-cased).
ID_COLUMNS = ("patient_id", "patient", "pseudonym", "id")
#: Longest identifier accepted (a pseudonym, not a document).
MAX_ID_LENGTH = 200


@dataclass(frozen=True)
class OptOut:
    """A patient's opt-out as read from a file, a FHIR Consent or an API request."""

    patient_id: str
    source: str
    opted_out_at: datetime | None = None


def patient_digest(patient_id: str) -> str:
    """The register's key for ``patient_id``: SHA-256 of the trimmed identifier, hex."""
    return hashlib.sha256(patient_id.strip().encode("utf-8")).hexdigest()


def check_patient_id(patient_id: str, where: str) -> str:
    """The trimmed identifier, or InputError naming ``where`` it came from."""
    value = patient_id.strip()
    if not value:
        raise InputError(f"{where}: the patient identifier is empty.")
    if len(value) > MAX_ID_LENGTH:
        raise InputError(
            f"{where}: a patient identifier is at most {MAX_ID_LENGTH} characters; "
            f"this one has {len(value)}."
        )
    return value


def read_id_file(path: Path) -> list[OptOut]:
    """Opt-outs from a text file (one identifier per line) or a CSV file with an id column.

    A first line naming one of :data:`ID_COLUMNS` (alone or among other CSV columns) is a
    header; blank lines are skipped. Raises InputError naming the file and line at fault.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path} could not be read as UTF-8 text: {error}.") from None
    return parse_id_lines(text, str(path))


def parse_id_lines(text: str, name: str) -> list[OptOut]:
    """The pure part of :func:`read_id_file`: ``text`` is the file's content."""
    rows = list(csv.reader(io.StringIO(text)))
    column = 0
    start = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        found = next((header.index(c) for c in ID_COLUMNS if c in header), None)
        if found is not None:
            column, start = found, 1
        elif len(header) > 1:
            raise InputError(
                f"{name} line 1: a file with several columns needs a header naming the "
                f"identifier column ({', '.join(ID_COLUMNS)}); found {', '.join(header)}."
            )
    opt_outs: list[OptOut] = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name} line {number}"
        if column >= len(row):
            raise InputError(f"{where}: the identifier column is missing on this line.")
        opt_outs.append(OptOut(check_patient_id(row[column], where), f"file:{Path(name).name}"))
    if not opt_outs:
        raise InputError(f"{name} holds no patient identifiers.")
    return opt_outs


def digests_of(patient_ids: Iterable[str]) -> frozenset[str]:
    """Digests of identifiers read from a file, to exclude without registering them."""
    return frozenset(patient_digest(p) for p in patient_ids)


def is_opted_out(digests: frozenset[str], patient_id: str) -> bool:
    """Whether ``patient_id`` is among ``digests`` (e.g. the register's)."""
    return patient_digest(patient_id) in digests


@dataclass(frozen=True)
class PatientExclusion:
    """Opted-out patients to leave out of an evaluation, and where the list came from."""

    source: str
    digests: frozenset[str]
