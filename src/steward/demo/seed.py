"""Seeding the demo region into an empty database, once: re-running on a seeded one does nothing.

Everything is written through the registry's services inside one unit of work, so the demo's
audit trail is what real use would leave and a failure leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from steward.audit.context import cli_context
from steward.db.session import read_only_unit, session_factory, unit_of_work
from steward.demo.evaluations import DemoEvaluations, run_demo_evaluations
from steward.demo.people import REGION, create_cast
from steward.demo.scene import Scene
from steward.demo.stories import seed_tools
from steward.errors import StewardError
from steward.registry.models import Organisation, User


class DemoSeedError(StewardError):
    """The database holds data that is not the demo's; the demo never writes into it."""


@dataclass(frozen=True)
class SeedOutcome:
    """Whether this run seeded the database, and each demo tool's lifecycle state."""

    seeded: bool
    tools: dict[str, str]

    @property
    def message(self) -> str:
        if self.seeded:
            return f"seeded the demo region: {len(self.tools)} tools"
        return "the demo region is already seeded; nothing to do"


def demo_present(session: Session) -> bool:
    """Whether the demo region exists in the database."""
    return session.scalar(select(Organisation.id).where(Organisation.slug == REGION)) is not None


def _empty(session: Session) -> bool:
    organisations = session.scalar(select(func.count()).select_from(Organisation)) or 0
    users = session.scalar(select(func.count()).select_from(User)) or 0
    return organisations == 0 and users == 0


def seed_demo(engine: Engine, evaluations: DemoEvaluations | None = None) -> SeedOutcome:
    """Seed the demo into the empty database of ``engine``; do nothing when already seeded.

    ``evaluations`` are computed (a few seconds) when not given. Raises :class:`DemoSeedError`
    for a database that holds other organisations or users.
    """
    sessions = session_factory(engine)
    with read_only_unit(sessions) as session:
        if demo_present(session):
            return SeedOutcome(False, _states(session))
        if not _empty(session):
            raise DemoSeedError(
                "the database already holds organisations or users that are not the demo's; "
                "the demo seeds only an empty database (set STEWARD_HOME to a new folder)"
            )
    documents = evaluations or run_demo_evaluations()
    with unit_of_work(sessions, cli_context()) as session:
        if demo_present(session):  # seeded by another process meanwhile
            return SeedOutcome(False, _states(session))
        seed_tools(Scene(session, create_cast(session)), documents)
        return SeedOutcome(True, _states(session))


def _states(session: Session) -> dict[str, str]:
    from steward.registry.models import Tool

    rows = session.execute(
        select(Tool.name, Organisation.slug, Tool.state)
        .join(Organisation, Organisation.id == Tool.organisation_id)
        .order_by(Organisation.slug, Tool.name)
    )
    return {f"{name} ({slug})": state.value for name, slug, state in rows}
