"""From FHIR R4 JSON (a resource or a Bundle) to rows: predictions, outcomes and opt-outs.

Pure functions: every resource is validated with ``fhir.resources.R4B`` and mapped to a row
dataclass, or reported with its path (``Bundle.entry[3].resource.prediction[0]...``) and why;
one bad resource never stops the others.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from steward.errors import InputError
from steward.integration.optouts import MAX_ID_LENGTH, OptOut

#: Resource types read as outcomes.
OUTCOME_TYPES = ("Observation", "Condition", "Encounter")
#: Resource types Steward reads; others in a Bundle (Patient, Practitioner, ...) are skipped.
READ_TYPES = ("RiskAssessment", *OUTCOME_TYPES, "Consent")
#: Largest FHIR file read (a Synthea patient bundle is a few MB).
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class PredictionRow:
    """One risk score from a RiskAssessment."""

    source_path: str
    resource_id: str | None
    patient_id: str
    score: float
    predicted_at: datetime | None
    outcome: str | None
    model: str | None
    encounter_id: str | None


@dataclass(frozen=True)
class OutcomeRow:
    """One observed outcome: an Observation, a Condition or an Encounter."""

    source_path: str
    resource_type: str
    resource_id: str | None
    patient_id: str
    code: str | None
    display: str | None
    occurred_at: datetime | None
    value: float | None
    status: str | None
    encounter_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A resource that was not imported: where it is and why."""

    path: str
    reason: str
    resource_type: str | None = None


@dataclass
class FhirBatch:
    """Everything read from one FHIR document."""

    predictions: list[PredictionRow] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)
    opt_outs: list[OptOut] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def read(self) -> int:
        return len(self.predictions) + len(self.outcomes) + len(self.opt_outs)


def read_fhir_file(path: Path) -> FhirBatch:
    """Read ``path`` (FHIR R4 JSON); InputError if it is not JSON or not FHIR at all."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{path} is {size:,} bytes; the limit is {MAX_BYTES:,}.")
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path} could not be read: {error}.") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    return read_fhir(document, path.name)


def read_fhir(document: Any, name: str = "document") -> FhirBatch:
    """Rows from a FHIR resource or Bundle (``document`` is its parsed JSON)."""
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InputError(f"{name} is not a FHIR resource: it has no resourceType.")
    batch = FhirBatch()
    entries = list(_entries(document, batch))
    patients = _patient_ids(entries)
    for path, resource in entries:
        _read_one(path, resource, patients, batch, name)
    return batch


def _entries(document: dict[str, Any], batch: FhirBatch) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, resource) of the document, or of every entry of a Bundle (nested ones too)."""
    kind = document["resourceType"]
    if kind != "Bundle":
        yield kind, document
        return
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        batch.rejected.append(Rejection("Bundle.entry", "must be a list of entries"))
        return
    for index, entry in enumerate(entries):
        path = f"Bundle.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            batch.rejected.append(Rejection(f"{path}.resource", "missing or has no resourceType"))
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        resource = {**resource, "__fullUrl": full_url} if full_url else resource
        if resource["resourceType"] == "Bundle":
            for inner_path, inner in _entries(_without_full_url(resource), batch):
                yield f"{path}.resource.{inner_path.removeprefix('Bundle.')}", inner
            continue
        yield f"{path}.resource", resource


def _without_full_url(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "__fullUrl"}


def _patient_ids(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Reference -> patient id, for ``Patient/ID`` and for the Bundle's ``urn:uuid`` fullUrls."""
    ids: dict[str, str] = {}
    for _path, resource in entries:
        if resource.get("resourceType") != "Patient" or not isinstance(resource.get("id"), str):
            continue
        ids[f"Patient/{resource['id']}"] = resource["id"]
        if resource.get("__fullUrl"):
            ids[resource["__fullUrl"]] = resource["id"]
    return ids


def _read_one(
    path: str, raw: dict[str, Any], patients: dict[str, str], batch: FhirBatch, name: str
) -> None:
    kind = raw["resourceType"]
    if kind not in READ_TYPES:
        if _is_resource_type(kind):
            batch.skipped[kind] += 1
        else:
            batch.rejected.append(Rejection(path, f"{kind!r} is not a FHIR R4 resource type"))
        return
    model = _validated(path, kind, _without_full_url(raw), batch)
    if model is None:
        return
    where = f"{path} ({kind}/{raw.get('id', '?')})"
    try:
        if kind == "RiskAssessment":
            batch.predictions.append(_prediction(path, model, patients))
        elif kind == "Consent":
            opt_out, skipped = _opt_out(path, model, patients, name)
            if opt_out is None:
                batch.skipped[f"Consent ({skipped})"] += 1
            else:
                batch.opt_outs.append(opt_out)
        else:
            batch.outcomes.append(_outcome(path, kind, model, patients))
    except _UnusableError as problem:
        batch.rejected.append(Rejection(f"{path}.{problem.field}", f"{where}: {problem}", kind))


def _is_resource_type(kind: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(kind)
    except (KeyError, ValueError, ImportError, AttributeError):
        return False
    return True


def _validated(path: str, kind: str, raw: dict[str, Any], batch: FhirBatch) -> Any:
    """The R4B model of ``raw``, or None after recording every validation error with its path."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        model_class = get_fhir_model_class(raw["resourceType"])
        return model_class.model_validate(raw)
    except ValidationError as error:
        for problem in error.errors()[:10]:
            location = "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"]
            )
            batch.rejected.append(Rejection(f"{path}{location}", str(problem["msg"]), kind))
        return None
    except (ValueError, TypeError) as error:
        batch.rejected.append(Rejection(path, f"not valid FHIR R4: {error}", kind))
        return None


class _UnusableError(ValueError):
    """A valid resource that lacks what Steward needs from it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _patient(reference: Any, patients: Mapping[str, str], field: str) -> str:
    """The pseudonymous patient id a Reference points at."""
    ref = getattr(reference, "reference", None) if reference is not None else None
    identifier = getattr(reference, "identifier", None) if reference is not None else None
    if isinstance(ref, str) and ref:
        if ref in patients:
            return patients[ref]
        if ref.startswith("urn:uuid:"):
            return _checked(ref.removeprefix("urn:uuid:"), field)
        kind, _, value = ref.rstrip("/").rpartition("/")
        if kind.endswith("Patient") and value:
            return _checked(value, field)
        raise _UnusableError(field, f"the reference {ref!r} does not name a Patient")
    if identifier is not None and getattr(identifier, "value", None):
        return _checked(str(identifier.value), field)
    raise _UnusableError(field, "no patient: give a reference to the Patient")


def _checked(value: str, field: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise _UnusableError(field, f"the patient id is longer than {MAX_ID_LENGTH} characters")
    return value


def _when(value: Any) -> datetime | None:
    """A FHIR date or dateTime as UTC (dates at midnight; local times taken as UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def _coding(concept: Any) -> tuple[str | None, str | None]:
    """``system|code`` and display of a CodeableConcept's first coding (or its text)."""
    if concept is None:
        return None, None
    for coding in concept.coding or []:
        if coding.code:
            code = f"{coding.system}|{coding.code}" if coding.system else str(coding.code)
            return code, coding.display or concept.text
    return None, concept.text


def _reference_id(reference: Any) -> str | None:
    ref = getattr(reference, "reference", None) if reference is not None else None
    if not isinstance(ref, str):
        return None
    return ref.removeprefix("urn:uuid:").rpartition("/")[2] or None


def _prediction(path: str, model: Any, patients: Mapping[str, str]) -> PredictionRow:
    predictions = model.prediction or []
    if not predictions:
        raise _UnusableError("prediction", "no prediction: a risk score needs prediction[0]")
    first = predictions[0]
    probability = first.probabilityDecimal
    if probability is None and first.probabilityRange is not None:
        raise _UnusableError(
            "prediction[0].probabilityRange",
            "a probability range is not a score; give prediction[0].probabilityDecimal",
        )
    if probability is None:
        raise _UnusableError("prediction[0].probabilityDecimal", "no probabilityDecimal")
    score = float(probability)
    if not 0.0 <= score <= 1.0:
        raise _UnusableError("prediction[0].probabilityDecimal", f"{score} is not between 0 and 1")
    outcome, _display = _coding(first.outcome)
    performer = model.performer
    model_name = None
    if performer is not None:
        model_name = performer.display or _reference_id(performer)
    return PredictionRow(
        source_path=path,
        resource_id=model.id,
        patient_id=_patient(model.subject, patients, "subject"),
        score=score,
        predicted_at=_when(model.occurrenceDateTime)
        or _when(getattr(model.occurrencePeriod, "start", None)),
        outcome=outcome,
        model=model_name,
        encounter_id=_reference_id(model.encounter),
    )


def _outcome(path: str, kind: str, model: Any, patients: Mapping[str, str]) -> OutcomeRow:
    value = None
    if kind == "Observation":
        code, display = _coding(model.code)
        occurred = (
            _when(model.effectiveDateTime)
            or _when(getattr(model.effectivePeriod, "start", None))
            or _when(model.issued)
        )
        quantity = model.valueQuantity
        if quantity is not None and quantity.value is not None:
            value = float(quantity.value)
        elif model.valueBoolean is not None:
            value = 1.0 if model.valueBoolean else 0.0
        status = model.status
    elif kind == "Condition":
        code, display = _coding(model.code)
        occurred = _when(model.onsetDateTime) or _when(model.recordedDate)
        status, _ = _coding(model.clinicalStatus)
    else:
        types = model.type or []
        code, display = _coding(types[0] if types else None)
        if code is None and model.class_fhir is not None:
            code, display = model.class_fhir.code, model.class_fhir.display
        occurred = _when(getattr(model.period, "start", None))
        status = model.status
    return OutcomeRow(
        source_path=path,
        resource_type=kind,
        resource_id=model.id,
        patient_id=_patient(model.subject, patients, "subject"),
        code=code,
        display=display,
        occurred_at=occurred,
        value=value,
        status=str(status) if status is not None else None,
        encounter_id=model.id if kind == "Encounter" else _reference_id(model.encounter),
    )


def _opt_out(
    path: str, model: Any, patients: Mapping[str, str], name: str
) -> tuple[OptOut | None, str]:
    """The opt-out of an active Consent whose base provision denies, or why there is none."""
    provision = model.provision
    if provision is None or provision.type != "deny":
        return None, "not a denial"
    if model.status != "active":
        return None, f"{model.status}, not active"
    patient = _patient(model.patient, patients, "patient")
    source = f"fhir:{name}:Consent/{model.id}" if model.id else f"fhir:{name}:{path}"
    return OptOut(patient, source, _when(model.dateTime)), ""


def without_opted_out(batch: FhirBatch, digests: frozenset[str]) -> int:
    """Drop the predictions and outcomes of opted-out patients from ``batch``; how many."""
    from steward.integration.optouts import is_opted_out

    before = len(batch.predictions) + len(batch.outcomes)
    batch.predictions = [p for p in batch.predictions if not is_opted_out(digests, p.patient_id)]
    batch.outcomes = [o for o in batch.outcomes if not is_opted_out(digests, o.patient_id)]
    return before - len(batch.predictions) - len(batch.outcomes)
