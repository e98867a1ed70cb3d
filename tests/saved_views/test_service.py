"""Saved inbox views: a member's own, or the team's (made by admins); names used once per
list; another member's view is not theirs to delete. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.saved_views import service
from tests.factories import accounts


def test_own_and_shared_views(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    agent = accounts.member(session, org, role=Role.AGENT)
    other = accounts.member(session, org, role=Role.AGENT)
    shared = service.create(
        session, member=admin, name="  Urgent   complaints ", query="complaint=1", shared=True
    )
    assert shared.name == "Urgent complaints"
    assert shared.member_id is None
    mine = service.create(session, member=agent, name="mine", query="assignee=me")
    service.create(session, member=agent, name="All open", query="")
    service.create(session, member=other, name="theirs", query="status=all")
    # Shared first, then one's own by name; another member's never.
    assert [v.name for v in service.visible_to(session, member=agent)] == [
        "Urgent complaints",
        "All open",
        "mine",
    ]
    outsider = accounts.member(session, accounts.organization(session), role=Role.ADMIN)
    assert service.visible_to(session, member=outsider) == []

    with pytest.raises(Conflict, match="your views already have one called 'MINE'"):
        service.create(session, member=agent, name="MINE", query="status=pending")
    with pytest.raises(PermissionDenied, match="only admins may share"):
        service.create(session, member=agent, name="x", query="", shared=True)
    with pytest.raises(ValidationFailed, match="give the view a name"):
        service.create(session, member=agent, name="  ", query="")
    with pytest.raises(ValidationFailed, match="keep it under 80"):
        service.create(session, member=agent, name="n" * 81, query="")

    with pytest.raises(PermissionDenied, match="only admins may delete"):
        service.delete(session, member=agent, view_id=shared.id)
    with pytest.raises(NotFound):
        service.delete(session, member=other, view_id=mine.id)
    with pytest.raises(NotFound):
        service.delete(session, member=outsider, view_id=shared.id)
    service.delete(session, member=agent, view_id=mine.id)
    service.delete(session, member=admin, view_id=shared.id)
    assert [v.name for v in service.visible_to(session, member=agent)] == ["All open"]


def test_a_list_keeps_thirty(session: Session) -> None:
    org = accounts.organization(session)
    agent = accounts.member(session, org, role=Role.AGENT)
    for n in range(service.MAX_VIEWS):
        service.create(session, member=agent, name=f"view {n}", query=f"tag=t{n}")
    with pytest.raises(ValidationFailed, match="30 views is the most a list keeps"):
        service.create(session, member=agent, name="one more", query="")
