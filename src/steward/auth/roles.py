"""Roles a person or token holds in an organisation, and which of them sit on an MDT."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A role held within one organisation."""

    ADMIN = "admin"
    COMMITTEE_CHAIR = "committee_chair"
    COMMITTEE_MEMBER = "committee_member"
    CLINICAL_LEAD = "clinical_lead"
    CLINICAL_SAFETY_OFFICER = "clinical_safety_officer"
    IG_DPO = "ig_dpo"
    IT_SECURITY = "it_security"
    FINANCE = "finance"
    PATIENT_REPRESENTATIVE = "patient_representative"
    DATA_SCIENTIST = "data_scientist"
    CLINICIAN = "clinician"
    SUPPLIER = "supplier"
    VIEWER = "viewer"


MDT_ROLES = frozenset(
    {
        Role.CLINICAL_LEAD,
        Role.CLINICAL_SAFETY_OFFICER,
        Role.IG_DPO,
        Role.IT_SECURITY,
        Role.FINANCE,
        Role.PATIENT_REPRESENTATIVE,
    }
)
