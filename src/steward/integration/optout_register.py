"""The register of patients who opted out of having their records used to evaluate or monitor AI.

Rows hold the SHA-256 digest of the patient's pseudonymous identifier only (see
:mod:`steward.integration.optouts`); each registration is written to the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, utcnow
from steward.integration.optouts import OptOut, check_patient_id, patient_digest


class PatientOptOut(IdMixin, CreatedMixin, Base):
    """One opted-out patient, by the SHA-256 digest of their pseudonymous identifier."""

    __tablename__ = "patient_opt_outs"

    digest: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(300))
    opted_out_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class RegisterOutcome:
    """What registering a batch of opt-outs did."""

    added: int
    already_registered: int
    #: Stored monitoring events of the newly registered patients, removed.
    removed_predictions: int = 0
    removed_outcomes: int = 0


def register_opt_outs(session: Session, opt_outs: Iterable[OptOut]) -> RegisterOutcome:
    """Add every opt-out not yet registered (each new row written to the audit trail) and take
    the newly registered patients' stored events out of monitoring."""
    known = set(session.scalars(select(PatientOptOut.digest)))
    added = already = 0
    new_patients: set[str] = set()
    for opt_out in opt_outs:
        digest = patient_digest(check_patient_id(opt_out.patient_id, opt_out.source))
        if digest in known:
            already += 1
            continue
        known.add(digest)
        new_patients.add(opt_out.patient_id)
        session.add(
            PatientOptOut(
                id=uuid.uuid4(),
                digest=digest,
                source=opt_out.source[:300],
                opted_out_at=opt_out.opted_out_at or utcnow(),
            )
        )
        added += 1
    session.flush()
    if not new_patients:
        return RegisterOutcome(added, already)
    # imported here: surveillance's ingestion imports this module
    from steward.integration.optout_purge import remove_from_monitoring

    patients = new_patients | {p.strip() for p in new_patients}
    removed = remove_from_monitoring(session, patients)
    return RegisterOutcome(added, already, removed["predictions"], removed["outcomes"])


def opted_out_digests(session: Session) -> frozenset[str]:
    """Digests of every registered opt-out (what evaluation and monitoring exclude)."""
    return frozenset(session.scalars(select(PatientOptOut.digest)))


def opted_out_count(session: Session) -> int:
    """How many patients the register holds."""
    return int(session.scalar(select(func.count()).select_from(PatientOptOut)) or 0)


#: Up to this many registered opt-outs, a look-up reads the whole register once instead of
#: querying chunk by chunk (bulk ingestion looks up 20,000 patients at a time).
READ_WHOLE_REGISTER = 50_000


def opted_out_among(session: Session, patient_ids: Iterable[str]) -> set[str]:
    """Those of ``patient_ids`` who are in the register (looked up by digest)."""
    registered = opted_out_count(session)
    if registered == 0:
        return set()
    by_digest: dict[str, set[str]] = {}
    for patient_id in patient_ids:
        by_digest.setdefault(patient_digest(patient_id), set()).add(patient_id)
    digests = list(by_digest)
    found: set[str] = set()
    if registered <= READ_WHOLE_REGISTER:
        for digest in opted_out_digests(session).intersection(digests):
            found |= by_digest[digest]
        return found
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        for digest in session.scalars(
            select(PatientOptOut.digest).where(PatientOptOut.digest.in_(chunk))
        ):
            found |= by_digest[digest]
    return found
