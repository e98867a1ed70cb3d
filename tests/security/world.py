"""An organization with one of everything the app's routes take an id of, members of every
role with a login each, and a raw ASGI caller that reads a route's status without waiting for
the body (live streams never end)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import invitations
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.alerts import service as alerts_service
from socialdesk.channels.models import BrandAccount
from socialdesk.commitments import service as commitments_service
from socialdesk.escalations import service as escalations_service
from socialdesk.notifications import service as notifications_service
from socialdesk.outbound import approvals
from socialdesk.policy import service as policy_service
from socialdesk.routing import automation as automation_service
from socialdesk.routing import service as routing_service
from socialdesk.saved_replies import service as saved_replies_service
from socialdesk.saved_views import service as saved_views_service
from socialdesk.schedules import service as schedules_service
from socialdesk.sla import service as sla_service
from socialdesk.sla import tracking
from socialdesk.sla.schemas import SlaPolicyCreate
from tests.factories import accounts, channels, contacts, polls
from tests.factories.conversations import inbound, ingest, with_file

STARTER = "brand-safety"
TAG = "vip"


@dataclass
class Login:
    member: Member
    cookie: str
    csrf: str
    token_id: int


@dataclass
class World:
    org: Organization
    logins: dict[Role, Login]
    target: Member  # a member the admin routes act on (never the caller)
    account: BrandAccount
    ids: dict[str, int] = field(default_factory=dict)
    # Customers of their own for the route that erases the contact it names (DELETE
    # /api/contacts/{contact_id}): each call on that path takes one, so the world's contact and
    # its conversation stay for every other route and role.
    spare_contact_ids: list[int] = field(default_factory=list)
    # The customer a merge (``ids["merge_id"]``) went into, for the routes under its merges.
    merged_contact_id: int = 0

    def path_for(self, path: str, *, caller: Login, overrides: Mapping[str, int] = {}) -> str:
        """``path`` with its parameters filled by this world's objects."""
        own: dict[str, int] = {}
        if path.endswith("/contacts/{contact_id}") and self.spare_contact_ids:
            own["contact_id"] = self.spare_contact_ids.pop()
        if "/merges/{merge_id}" in path:
            own["contact_id"] = self.merged_contact_id
        values: dict[str, object] = {
            **self.ids,
            **own,
            "token_id": caller.token_id,
            "name": STARTER if "/starters/" in path else TAG,
            "public_key": self.account.public_key,
            "token": "not-a-real-token",
            **overrides,
        }
        return path.format(**values)


# Enough for every role and scope to call GET and DELETE on /api/contacts/{contact_id}.
SPARE_CONTACTS = 30


def build_world(session: Session, *, name: str) -> World:
    org = accounts.organization(session, name=name)
    logins: dict[Role, Login] = {}
    for role in Role:
        member = accounts.member(session, org, role=role, name=f"{role.value} of {name}")
        new = accounts_service.start_session(session, member=member, source_address=None)
        token = accounts_service.create_api_token(session, member=member, name="tests")
        logins[role] = Login(member, new.token, new.csrf_token, token.record.id)
    owner = logins[Role.OWNER].member
    target = accounts.member(session, org, role=Role.AGENT, name=f"target of {name}")
    team = accounts_service.create_team(session, organization_id=org.id, name=f"team {name}")
    accounts_service.add_to_team(session, team=team, member=target)
    account = channels.brand_account(session, org, kind="web")
    result = ingest(session, account, inbound(thread_key=f"visitor:{name}", author=name))
    approval = approvals.hold(session, message=result.message, author=target, reasons=[])
    version = policy_service.adopt_starter(
        session, organization_id=org.id, name=STARTER, author=owner
    )
    invitation = invitations.invite(
        session, inviter=owner, email=f"invitee@{name.lower()}.example", role=Role.AGENT
    )
    escalation = escalations_service.create(
        session,
        conversation=result.conversation,
        requested_by=owner,
        text="Please refund",
        team_id=team.id,
    )
    (notification,) = notifications_service.notify(
        session, organization_id=org.id, member_ids=[owner.id], kind="test", title="For the owner"
    )
    commitment = commitments_service.create(
        session, conversation=result.conversation, actor=target, text="Call back"
    )
    hours = schedules_service.create(
        session,
        organization_id=org.id,
        name=f"hours {name}",
        timezone="UTC",
        intervals={"0": [["09:00", "17:00"]]},
    )
    sla_policy = sla_service.create(
        session,
        organization_id=org.id,
        data=SlaPolicyCreate(name=f"policy {name}", first_response_minutes=60),
    )
    # In use, as in a real desk: deleting them is refused (409), so later calls still find them.
    team.business_hours_id = hours.id
    routing_rule = routing_service.create_rule(
        session,
        organization_id=org.id,
        name=f"rule {name}",
        conditions=[],
        actions=[{"type": "add_tag", "tag": "routed"}],
    )
    automation_rule = automation_service.create_rule(
        session,
        organization_id=org.id,
        name=f"automation {name}",
        trigger="conversation.created",
        conditions=[],
        actions=[{"type": "add_tag", "tag": "automated"}],
    )
    alert = alerts_service.create(
        session,
        organization_id=org.id,
        spec=alerts_service.AlertSpec(
            name=f"alert {name}", window_minutes=15, threshold=10, notify_to="admins", filters={}
        ),
        actor=owner,
    )
    saved_reply = saved_replies_service.create(
        session,
        organization_id=org.id,
        draft=saved_replies_service.Draft(f"refund-{org.id}", "Refunds", "Hi {name}"),
        actor=owner,
    )
    session.flush()
    tracking.reconcile(session, conversation_id=result.conversation.id)
    session.flush()
    assert result.conversation.contact_id is not None
    spares = [
        ingest(session, account, inbound(author=f"{name}-spare-{n}")).conversation.contact_id
        for n in range(SPARE_CONTACTS)
    ]
    merge_id, merged_into = contacts.merged_pair(session, account, name)
    view = saved_views_service.create(
        session, member=owner, name=f"shared view {name}", query="status=all", shared=True
    )
    poll = polls.held(session, account, target)
    attachment_id = with_file(session, account)
    world = World(
        org=org,
        logins=logins,
        target=target,
        account=account,
        spare_contact_ids=[cid for cid in spares if cid is not None],
        merged_contact_id=merged_into,
    )
    world.ids = {
        "conversation_id": result.conversation.id,
        "message_id": result.message.id,
        "contact_id": result.conversation.contact_id,
        "brand_account_id": account.id,
        "account_id": account.id,
        "member_id": target.id,
        "team_id": team.id,
        "invitation_id": invitation.invitation.id,
        "approval_id": approval.id,
        "version_id": version.id,
        "escalation_id": escalation.id,
        "notification_id": notification.id,
        "commitment_id": commitment.id,
        "business_hours_id": hours.id,
        "sla_policy_id": sla_policy.id,
        "routing_rule_id": routing_rule.id,
        "automation_rule_id": automation_rule.id,
        "alert_id": alert.id,
        "reply_id": saved_reply.id,
        "merge_id": merge_id,
        "view_id": view.id,
        "poll_id": poll.id,
        "attachment_id": attachment_id,
    }
    session.commit()
    return world


def status_of(
    client: TestClient,
    method: str,
    path: str,
    *,
    login: Login | None,
    with_csrf: bool = True,
    csrf: str | None = None,
    bearer: str | None = None,
    body: bytes = b"",
    content_type: str = "application/x-www-form-urlencoded",
) -> int:
    """Call the app the way a browser would (cookie, CSRF header) and return the response's
    status as soon as it starts. ``csrf`` replaces the login's own token (a forgery);
    ``with_csrf=False`` sends none; ``bearer`` sends an API token (pass ``login=None``).
    Must run inside ``with client``."""
    target, _, query = path.partition("?")
    headers: list[tuple[bytes, bytes]] = [
        (b"host", b"testserver"),
        (b"accept", b"text/html"),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    if login is not None:
        headers.append((b"cookie", f"sd_session={login.cookie}".encode()))
        if with_csrf:
            headers.append((b"x-csrf-token", (csrf or login.csrf).encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def run() -> int:
        status = 0
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        try:
            await client.app(scope, receive, send)
        except Exception:  # the 500 was sent before the error was raised again
            traceback.print_exc()  # pytest shows it beside the failing assertion
            return status or 500
        return status

    assert client.portal is not None, "call status_of inside 'with client'"
    return int(client.portal.call(run))
