from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role

_n = count(1)
PASSWORD = "correct horse battery"


def organization(session: Session, *, name: str | None = None) -> Organization:
    n = next(_n)
    return accounts_service.create_organization(session, name=name or f"Org {n}", slug=f"org-{n}")


def member(
    session: Session, org: Organization, *, role: Role = Role.AGENT, name: str | None = None
) -> Member:
    n = next(_n)
    return accounts_service.create_member(
        session,
        organization_id=org.id,
        email=f"member{n}@example.org",
        name=name or f"Member {n}",
        role=role,
        password=PASSWORD,
    )
