"""The demo region: its organisations, people and their roles, created through the registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from steward.auth.passwords import set_password
from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Organisation, User
from steward.registry.organisations import (
    create_organisation,
    create_user,
    grant_role,
    organisation_by_slug,
)

DEMO_PASSWORD = "steward-demo-2026"
"""The one password of every demo account (printed by ``steward demo``; never use in production)."""

REGION = "north-vale"


@dataclass(frozen=True)
class DemoOrganisation:
    """One organisation of the demo hierarchy; ``parent`` is a slug above it."""

    slug: str
    name: str
    kind: OrganisationKind
    parent: str | None = None


ORGANISATIONS: tuple[DemoOrganisation, ...] = (
    DemoOrganisation(REGION, "North Vale Health Region", OrganisationKind.REGION),
    DemoOrganisation(
        "riverside",
        "Riverside and St Luke's Hospitals NHS Foundation Trust",
        OrganisationKind.TRUST,
        REGION,
    ),
    DemoOrganisation(
        "riverside-general", "Riverside General Hospital", OrganisationKind.HOSPITAL, "riverside"
    ),
    DemoOrganisation(
        "riverside-acute-block",
        "Riverside General Hospital, Acute Block",
        OrganisationKind.SITE,
        "riverside-general",
    ),
    DemoOrganisation("st-lukes", "St Luke's Hospital", OrganisationKind.HOSPITAL, "riverside"),
    DemoOrganisation(
        "st-lukes-main", "St Luke's Hospital, Main Site", OrganisationKind.SITE, "st-lukes"
    ),
    DemoOrganisation("northgate", "Northgate Healthcare NHS Trust", OrganisationKind.TRUST, REGION),
    DemoOrganisation(
        "northgate-hospital", "Northgate Hospital", OrganisationKind.HOSPITAL, "northgate"
    ),
    DemoOrganisation(
        "northgate-main",
        "Northgate Hospital, Main Site",
        OrganisationKind.SITE,
        "northgate-hospital",
    ),
    DemoOrganisation(
        "westmoor", "Westmoor Community and Acute NHS Trust", OrganisationKind.TRUST, REGION
    ),
    DemoOrganisation(
        "westmoor-hospital", "Westmoor Hospital", OrganisationKind.HOSPITAL, "westmoor"
    ),
    DemoOrganisation(
        "westmoor-main", "Westmoor Hospital, Main Site", OrganisationKind.SITE, "westmoor-hospital"
    ),
)


@dataclass(frozen=True)
class DemoUser:
    """A demo account: who they are, what they do, and the roles they hold where."""

    key: str
    email: str
    name: str
    job: str
    roles: tuple[tuple[str, Role], ...]


USERS: tuple[DemoUser, ...] = (
    DemoUser(
        "chair",
        "amara.okafor@riverside.example",
        "Dr Amara Okafor",
        "Chair, AI Governance Committee; Deputy Medical Director",
        (("riverside", Role.COMMITTEE_CHAIR),),
    ),
    DemoUser(
        "member",
        "tom.whitfield@riverside.example",
        "Tom Whitfield",
        "AI Governance Committee member; Head of Transformation",
        (("riverside", Role.COMMITTEE_MEMBER),),
    ),
    DemoUser(
        "clinical_lead",
        "priya.raman@riverside.example",
        "Dr Priya Raman",
        "Clinical lead; Consultant in Acute Medicine",
        (("riverside", Role.CLINICAL_LEAD),),
    ),
    DemoUser(
        "cso",
        "gareth.lloyd@riverside.example",
        "Dr Gareth Lloyd",
        "Clinical Safety Officer; Consultant Anaesthetist",
        (("riverside", Role.CLINICAL_SAFETY_OFFICER),),
    ),
    DemoUser(
        "dpo",
        "helen.marsh@riverside.example",
        "Helen Marsh",
        "Information Governance lead and Data Protection Officer (shared with Northgate)",
        (("riverside", Role.IG_DPO), ("northgate", Role.IG_DPO)),
    ),
    DemoUser(
        "security",
        "sam.adeyemi@riverside.example",
        "Sam Adeyemi",
        "IT security manager (shared cyber security service with Northgate)",
        (("riverside", Role.IT_SECURITY), ("northgate", Role.IT_SECURITY)),
    ),
    DemoUser(
        "finance",
        "rebecca.stone@riverside.example",
        "Rebecca Stone",
        "Deputy Director of Finance",
        (("riverside", Role.FINANCE),),
    ),
    DemoUser(
        "data_scientist",
        "wei.chen@riverside.example",
        "Dr Wei Chen",
        "Senior clinical data scientist",
        (("riverside", Role.DATA_SCIENTIST),),
    ),
    DemoUser(
        "patient_rep",
        "margaret.ellis@riverside.example",
        "Margaret Ellis",
        "Patient representative on the AI Governance Committee",
        (("riverside", Role.PATIENT_REPRESENTATIVE),),
    ),
    DemoUser(
        "admin",
        "jordan.price@riverside.example",
        "Jordan Price",
        "Steward administrator, digital services",
        (("riverside", Role.ADMIN),),
    ),
    DemoUser(
        "northgate_chair",
        "kwame.mensah@northgate.example",
        "Dr Kwame Mensah",
        "Chair, Northgate AI Governance Committee",
        (("northgate", Role.COMMITTEE_CHAIR),),
    ),
    DemoUser(
        "northgate_cso",
        "sarah.collins@northgate.example",
        "Dr Sarah Collins",
        "Clinical Safety Officer, Northgate",
        (("northgate", Role.CLINICAL_SAFETY_OFFICER),),
    ),
    DemoUser(
        "northgate_lead",
        "daniel.osei@northgate.example",
        "Dr Daniel Osei",
        "Clinical lead; Consultant Physician, Northgate",
        (("northgate", Role.CLINICAL_LEAD),),
    ),
    DemoUser(
        "westmoor_lead",
        "ioana.popescu@westmoor.example",
        "Dr Ioana Popescu",
        "Clinical lead for acute care, Westmoor",
        (("westmoor", Role.CLINICAL_LEAD), ("westmoor", Role.COMMITTEE_MEMBER)),
    ),
    DemoUser(
        "regional",
        "fiona.macleod@northvale.example",
        "Dr Fiona MacLeod",
        "Regional AI programme lead (sees every member organisation)",
        ((REGION, Role.COMMITTEE_MEMBER),),
    ),
)


@dataclass
class Cast:
    """The organisations and users created, by slug and by key."""

    organisations: dict[str, Organisation]
    users: dict[str, User]

    def org(self, slug: str) -> Organisation:
        return self.organisations[slug]


def create_cast(session: Session) -> Cast:
    """Create every demo organisation and account, each account with the demo password."""
    organisations = {
        o.slug: create_organisation(session, o.slug, o.name, o.kind, o.parent)
        for o in ORGANISATIONS
    }
    users: dict[str, User] = {}
    now = utcnow()
    for person in USERS:
        user = create_user(session, person.email, person.name)
        for slug, role in person.roles:
            grant_role(session, user, organisation_by_slug(session, slug), role)
        set_password(session, user, DEMO_PASSWORD, now)
        users[person.key] = user
    return Cast(organisations, users)
