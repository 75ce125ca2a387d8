"""``/api/v1/opt-outs``: register patients who opted out of evaluation and monitoring."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from steward.api.deps import ReadOptOuts, RegisterOptOuts, SessionDep
from steward.api.schemas import Request
from steward.errors import InputError
from steward.integration.optout_register import opted_out_count, register_opt_outs
from steward.integration.optouts import OptOut, check_patient_id
from steward.registry.errors import invalid

router = APIRouter(prefix="/opt-outs", tags=["patient opt-outs"])


class OptOutsIn(Request):
    patient_ids: list[str] = Field(min_length=1, max_length=10_000)
    source: str = Field(default="api", min_length=1, max_length=200)


class OptOutsOut(BaseModel):
    added: int
    already_registered: int
    registered: int
    removed_predictions: int = Field(description="Stored predictions taken out of monitoring")
    removed_outcomes: int = Field(description="Stored outcomes taken out of monitoring")


class OptOutCount(BaseModel):
    registered: int


@router.post("", status_code=status.HTTP_200_OK, response_model=OptOutsOut)
def register(body: OptOutsIn, session: SessionDep, principal: RegisterOptOuts) -> OptOutsOut:
    """Add patients (pseudonymous ids) to the register; only their SHA-256 digests are kept."""
    opt_outs = []
    for index, patient_id in enumerate(body.patient_ids):
        try:
            check_patient_id(patient_id, f"patient_ids[{index}]")
        except InputError as error:
            raise invalid(f"patient_ids[{index}]", str(error).split(": ", 1)[-1]) from None
        opt_outs.append(OptOut(patient_id, f"{body.source} ({principal.actor})"))
    outcome = register_opt_outs(session, opt_outs)
    return OptOutsOut(
        added=outcome.added,
        already_registered=outcome.already_registered,
        registered=opted_out_count(session),
        removed_predictions=outcome.removed_predictions,
        removed_outcomes=outcome.removed_outcomes,
    )


@router.get("", response_model=OptOutCount)
def count(session: SessionDep, principal: ReadOptOuts) -> OptOutCount:
    """How many patients the register holds (the digests themselves are not served)."""
    return OptOutCount(registered=opted_out_count(session))
