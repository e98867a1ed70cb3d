"""The administration pages: inviting and joining, roles, password reset links, offboarding with
its handover report, teams, brand accounts (write-only credentials) and the audit trail."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TypeVar

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import socialdesk.connectors.x as x_pkg
from socialdesk.accounts.models import AuditEvent, Member, Role, Team, TeamMembership
from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.common import clock
from socialdesk.common.crypto import decrypt_json
from socialdesk.connectors import registry
from socialdesk.connectors.web.connector import MESSAGE_EVENT
from socialdesk.connectors.x import XConnector
from socialdesk.conversations.models import Message
from socialdesk.db.base import Base
from socialdesk.db.session import get_sessionmaker
from tests.conftest import JobRunner
from tests.connectors.fake_http import FakeProvider, recorded, response
from tests.factories import accounts
from tests.web.conftest import Desk, csrf_from, login, new_conversation

X_ME = Path(x_pkg.__file__).parent / "fixtures" / "responses" / "users_me.json"
LINK = re.compile(r'id="invite-link">([^<]+)<')
RESET = re.compile(r'id="reset-link">([^<]+)<')


T = TypeVar("T")


def _read(model: type[T], ident: int) -> T:
    with get_sessionmaker(write=False)() as reader:
        found = reader.get(model, ident)
        assert found is not None
        reader.expunge(found)
        return found


def _audit_actions() -> list[str]:
    with get_sessionmaker(write=False)() as reader:
        return list(reader.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_invite_shows_the_link_once_and_the_invitee_joins_logged_in(
    app: FastAPI, client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    made = client.post(
        "/admin/invitations",
        data={"email": "new.person@example.org", "role": "agent", "csrf_token": csrf},
    )
    assert made.status_code == 200, made.text
    match = LINK.search(made.text)
    assert match
    path = "/" + match.group(1).split("/", 3)[3]
    assert path.startswith("/invitations/")
    # Not on any later page.
    assert path not in client.get("/admin/members").text
    pending = client.get("/admin/invitations").text
    assert "new.person@example.org" in pending
    assert path not in pending

    with TestClient(app, follow_redirects=False) as invitee:
        page = invitee.get(path)
        assert page.status_code == 200
        assert "Join Acme Care" in page.text
        refused = invitee.post(path, data={"name": "New Person", "password": "x" * 12})
        assert refused.status_code == 403
        short = invitee.post(
            path,
            data={
                "name": "New Person",
                "password": "short",
                "confirm_password": "short",
                # Each answer sets a fresh form cookie: use the latest page's token.
                "csrf_token": csrf_from(refused.text),
            },
        )
        assert short.status_code == 422
        assert "at least 10 characters" in short.text
        joined = invitee.post(
            path,
            data={
                "name": "New Person",
                "password": "a long new password",
                "confirm_password": "a long new password",
                "csrf_token": csrf_from(short.text),
            },
        )
        assert joined.status_code == 303
        inbox = invitee.get("/")
        assert inbox.status_code == 200
        assert "New Person" in inbox.text
        again = invitee.get(path)
        assert again.status_code == 409  # used once


def test_an_invitation_without_an_email_address_is_refused_on_the_form(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    refused = client.post(
        "/admin/invitations", data={"email": "", "role": "agent", "csrf_token": csrf}
    )
    assert refused.status_code in (200, 400, 422), refused.text
    assert "is not an email address" in refused.text
    assert LINK.search(refused.text) is None
    assert "invitation_created" not in _audit_actions()


def test_revoked_invitation_link_no_longer_opens(
    client: TestClient, desk: Desk, app: FastAPI
) -> None:
    csrf = login(client, desk.owner)
    made = client.post(
        "/admin/invitations",
        data={"email": "gone@example.org", "role": "viewer", "csrf_token": csrf},
    )
    match = LINK.search(made.text)
    assert match
    path = "/" + match.group(1).split("/", 3)[3]
    invitation_id = re.search(
        r"/admin/invitations/(\d+)/revoke", client.get("/admin/invitations").text
    )
    assert invitation_id
    revoked = client.post(
        f"/admin/invitations/{invitation_id.group(1)}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    with TestClient(app, follow_redirects=False) as other:
        assert other.get(path).status_code == 404


def test_only_an_owner_makes_owners_and_the_refusal_shows_by_the_form(
    client: TestClient, desk: Desk, session: Session
) -> None:
    admin = accounts.member(session, desk.org, role=Role.ADMIN, name="Ada Admin")
    session.commit()
    csrf = login(client, admin)
    refused = client.post(
        f"/admin/members/{desk.agent.id}/role", data={"role": "owner", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "only an owner" in refused.text
    changed = client.post(
        f"/admin/members/{desk.agent.id}/role", data={"role": "approver", "csrf_token": csrf}
    )
    assert changed.status_code == 303
    agent = _read(Member, desk.agent.id)
    assert agent.role == "approver"
    assert "role_changed" in _audit_actions()


def test_reset_link_lets_the_member_set_a_new_password(
    app: FastAPI, client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    made = client.post(f"/admin/members/{desk.agent.id}/password-reset", data={"csrf_token": csrf})
    assert made.status_code == 200
    match = RESET.search(made.text)
    assert match
    path = "/" + match.group(1).split("/", 3)[3]
    assert path not in client.get(f"/admin/members/{desk.agent.id}").text
    with TestClient(app, follow_redirects=False) as agent:
        page = agent.get(path)
        done = agent.post(
            path,
            data={
                "password": "brand new secret",
                "confirm_password": "brand new secret",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 303
        login(agent, desk.agent, password="brand new secret")
        page = agent.get(path)
        reused = agent.post(
            path,
            data={
                "password": "another secret!",
                "confirm_password": "another secret!",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert reused.status_code == 422


def test_an_admin_cannot_take_over_an_owners_sign_in(
    client: TestClient, desk: Desk, session: Session
) -> None:
    """A reset link or turning off two-factor for the owner would let an admin sign in as the
    owner and make themselves one: only an owner may do either for an owner."""
    admin = accounts.member(session, desk.org, role=Role.ADMIN, name="Ada Admin")
    owner = session.get_one(Member, desk.owner.id)
    owner.totp_enabled = True
    session.commit()
    csrf = login(client, admin)
    page = client.get(f"/admin/members/{desk.owner.id}").text
    assert "Create a password reset link" not in page
    assert "Turn off two-factor" not in page
    assert "only an owner can make them a reset link" in page
    refused = client.post(
        f"/admin/members/{desk.owner.id}/password-reset", data={"csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "only an owner can reset an owner" in refused.text
    assert RESET.search(refused.text) is None
    refused = client.post(f"/admin/members/{desk.owner.id}/totp/disable", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert _read(Member, desk.owner.id).totp_enabled
    # An admin still resets an agent's password, and an owner an owner's.
    made = client.post(f"/admin/members/{desk.agent.id}/password-reset", data={"csrf_token": csrf})
    assert RESET.search(made.text)
    second = accounts.member(session, desk.org, role=Role.OWNER, name="Otto Owner")
    session.commit()
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, second)
    made = client.post(f"/admin/members/{desk.owner.id}/password-reset", data={"csrf_token": csrf})
    assert RESET.search(made.text)


def test_deactivation_hands_work_to_a_colleague_and_shows_the_report(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation

    conversation_id = new_conversation(session, desk)
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    conversations_service.assign(
        session, conversation=conversation, assignee_id=desk.agent.id, actor=desk.owner
    )
    colleague = accounts.member(session, desk.org, name="Cora Colleague")
    session.commit()
    csrf = login(client, desk.owner)
    page = client.get(f"/admin/members/{desk.agent.id}")
    assert "back to the team queue" in page.text
    assert "Cora Colleague" in page.text
    done = client.post(
        f"/admin/members/{desk.agent.id}/deactivate",
        data={"hand_to": str(colleague.id), "csrf_token": csrf},
    )
    assert done.status_code == 200, done.text
    assert "Handover report" in done.text
    assert "Cora Colleague" in done.text
    moved = _read(Conversation, conversation_id)
    assert moved.assignee_id == colleague.id
    listing = client.get("/admin/members").text
    assert "Deactivated" in listing
    back = client.post(f"/admin/members/{desk.agent.id}/reactivate", data={"csrf_token": csrf})
    assert back.status_code == 303
    agent = _read(Member, desk.agent.id)
    assert agent.is_active


def test_teams_are_made_and_filled_and_emptied(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    made = client.post("/admin/teams", data={"name": "Billing", "csrf_token": csrf})
    assert made.status_code == 303
    team_path = made.headers["location"]
    team_id = int(team_path.rsplit("/", 1)[1])
    dup = client.post("/admin/teams", data={"name": "billing", "csrf_token": csrf})
    assert dup.status_code == 422
    added = client.post(
        f"{team_path}/members", data={"member_id": str(desk.agent.id), "csrf_token": csrf}
    )
    assert added.status_code == 303
    with get_sessionmaker(write=False)() as reader:
        assert reader.get(TeamMembership, (team_id, desk.agent.id)) is not None
    assert "Billing" in client.get("/admin/members").text
    removed = client.post(f"{team_path}/members/{desk.agent.id}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    with get_sessionmaker(write=False)() as reader:
        assert reader.get(TeamMembership, (team_id, desk.agent.id)) is None
        assert reader.get(Team, team_id) is not None


def _assert_nowhere_in_the_database(secret: str) -> None:
    """Read every row of every table raw (no ORM types) and look for ``secret`` in clear."""
    with get_sessionmaker(write=False)() as reader:
        for table in reversed(Base.metadata.sorted_tables):
            for row in reader.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    # PostgreSQL hands bytea back as a memoryview.
                    raw = (
                        bytes(value)
                        if isinstance(value, bytes | memoryview)
                        else str(value).encode()
                    )
                    assert secret.encode() not in raw, f"{secret!r} in clear in {table.name}"


def test_brand_account_credentials_are_write_only(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    secret = "s3cr3t-page-token-value"
    made = client.post(
        "/admin/accounts",
        data={
            "kind": "mastodon",
            "handle": "@acme@social.example",
            "display_name": "Acme on Mastodon",
            "cred_key_0": "access_token",
            "cred_value_0": secret,
            "csrf_token": csrf,
        },
    )
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    account_id = int(path.rsplit("/", 1)[1])
    page = client.get(path)
    assert "Credentials set" in page.text
    assert secret not in page.text
    assert "unknown" in page.text  # health before the first check
    assert secret not in client.get("/admin/accounts").text
    _assert_nowhere_in_the_database(secret)
    api = client.get(f"/api/brand-accounts/{account_id}", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 200
    assert secret not in api.text
    changed = client.post(
        f"{path}/credentials",
        data={"cred_key_0": "refresh_token", "cred_value_0": "r-123", "csrf_token": csrf},
    )
    assert changed.status_code == 303
    stored = _read(BrandAccount, account_id)
    assert stored.credentials_encrypted
    assert decrypt_json(stored.credentials_encrypted) == {
        "access_token": secret,
        "refresh_token": "r-123",
    }
    _assert_nowhere_in_the_database("r-123")
    signed = client.post(
        f"{path}/settings",
        data={"display_name": "Acme", "sign_replies": "1", "csrf_token": csrf},
    )
    assert signed.status_code == 303
    stored = _read(BrandAccount, account_id)
    assert stored.settings["sign_replies"] is True
    access = client.post(
        f"{path}/access", data={"member_ids": [str(desk.agent.id)], "csrf_token": csrf}
    )
    assert access.status_code == 303
    assert "checked> Alex Agent" in client.get(path).text
    actions = _audit_actions()
    for action in ("brand_account_created", "credentials_changed", "brand_account_access_changed"):
        assert action in actions


def test_account_pages_say_what_the_reply_box_will_say_of_an_account_not_set_up(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    made = client.post(
        "/admin/accounts",
        data={"kind": "x", "handle": "acme_care", "display_name": "Acme", "csrf_token": csrf},
    )
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    page = client.get(path).text
    state = page.split('id="send-state">')[1].split("</dd>")[0]
    assert "Cannot go out: X account &#39;acme_care&#39; has no access token; connect it" in state
    assert ">Connect</a>" in page  # never connected: not "Reconnect"
    listed = client.get("/admin/accounts").text
    row = listed.split(f'data-account="{path.rsplit("/", 1)[1]}"')[1].split("</tr>")[0]
    assert "Replies cannot go out: X account" in row
    # The website account needs nothing; its row says nothing of the kind.
    web_row = listed.split(f'data-account="{desk.web.id}"')[1].split("</tr>")[0]
    assert "cannot go out" not in web_row

    saved = client.post(
        f"{path}/credentials",
        data={"cred_key_0": "access_token", "cred_value_0": "t-1", "csrf_token": csrf},
    )
    assert saved.status_code == 303
    page = client.get(path).text
    assert "Ready: nothing a reply needs is missing" in page
    assert ">Reconnect</a>" in page
    assert "Replies cannot go out" not in client.get("/admin/accounts").text


def test_check_now_signs_in_and_shows_what_the_network_answered(
    client: TestClient, desk: Desk
) -> None:
    # The first check is answered as recorded; then the token is refused.
    x_network = FakeProvider().on(
        "GET", "/2/users/me", recorded(X_ME), response(401, {"title": "Unauthorized"})
    )
    with registry.override(XConnector(transport=x_network.transport, sleep=lambda _: None)):
        csrf = login(client, desk.owner)
        made = client.post(
            "/admin/accounts",
            data={"kind": "x", "handle": "@TweepyDev", "display_name": "Dev", "csrf_token": csrf},
        )
        path = made.headers["location"]
        assert "Check now" not in client.get(path).text  # nothing to sign in with yet
        client.post(
            f"{path}/credentials",
            data={"cred_key_0": "access_token", "cred_value_0": "t-1", "csrf_token": csrf},
        )
        page = client.get(path).text
        assert f'action="{path}/check"' in page
        assert 'id="health">unknown<' in page

        forged = client.post(f"{path}/check", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        assert x_network.requests == []

        checked = client.post(f"{path}/check", data={"csrf_token": csrf})
        assert checked.status_code == 200, checked.text
        result = checked.text.split('id="check-result"')[1].split("</p>")[0]
        assert 'class="check-result check-ok"' in result
        assert "signed in as @TweepyDev" in result
        assert 'id="health">ok<' in checked.text
        assert len(x_network.sent("GET", "/2/users/me")) == 1

        refused = client.post(f"{path}/check", data={"csrf_token": csrf})
        assert refused.status_code == 200
        assert 'class="check-result check-failed"' in refused.text
        assert 'id="health">unhealthy<' in refused.text
        assert "expired or was revoked" in refused.text

    # The website account signs in nowhere: no button, and a post is refused by name.
    web_path = f"/admin/accounts/{desk.web.id}"
    assert "Check now" not in client.get(web_path).text
    refused_web = client.post(f"{web_path}/check", data={"csrf_token": csrf})
    assert refused_web.status_code == 422
    assert "Website accounts sign in to no network" in refused_web.text


def test_web_account_page_offers_the_chat_link_and_widget(client: TestClient, desk: Desk) -> None:
    login(client, desk.owner)
    page = client.get(f"/admin/accounts/{desk.web.id}").text
    assert f"/chat/{desk.web.public_key}" in page
    assert f"/chat/{desk.web.public_key}/widget.js" in page


def test_audit_trail_filters_and_exports_and_records_the_export(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    page = client.get("/admin/audit", params={"action": "login"})
    assert page.status_code == 200
    assert page.text.count("<td>login</td>") == 1
    bad = client.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 422
    exported = client.post("/admin/audit/export", data={"action": "login", "csrf_token": csrf})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["login"]
    assert _audit_actions()[-1] == "export"


def test_profile_password_two_factor_and_tokens(
    app: FastAPI, client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.agent)
    with TestClient(app, follow_redirects=False) as elsewhere:
        login(elsewhere, desk.agent)
        wrong = client.post(
            "/account/password",
            data={
                "current_password": "not it at all",
                "new_password": "a fresh password",
                "confirm_password": "a fresh password",
                "csrf_token": csrf,
            },
        )
        assert wrong.status_code == 422
        assert "current password is wrong" in wrong.text
        changed = client.post(
            "/account/password",
            data={
                "current_password": accounts.PASSWORD,
                "new_password": "a fresh password",
                "confirm_password": "a fresh password",
                "csrf_token": csrf,
            },
        )
        assert changed.status_code == 200
        assert client.get("/account").status_code == 200  # this login stays
        assert elsewhere.get("/").status_code == 303  # the other one ended

    saved = client.post(
        "/account/profile",
        data={"name": "Alex Agent", "initials": "ax", "avatar_url": "", "csrf_token": csrf},
    )
    assert saved.status_code == 303
    agent = _read(Member, desk.agent.id)
    assert agent.initials == "AX"

    begun = client.post("/account/totp/begin", data={"csrf_token": csrf})
    assert "otpauth://" in begun.text
    secret_match = re.search(r'id="totp-secret">([A-Z2-7]+)<', begun.text)
    assert secret_match
    bad = client.post("/account/totp/enable", data={"code": "000000", "csrf_token": csrf})
    assert bad.status_code == 422
    from socialdesk.common import clock

    code = pyotp.TOTP(secret_match.group(1)).at(clock.now())
    on = client.post("/account/totp/enable", data={"code": code, "csrf_token": csrf})
    assert on.status_code == 303
    assert "is <strong>on</strong>" in client.get("/account").text
    off = client.post("/account/totp/disable", data={"code": code, "csrf_token": csrf})
    assert off.status_code == 303

    made = client.post(
        "/account/tokens", data={"name": "CRM", "scopes": ["read"], "csrf_token": csrf}
    )
    token = re.search(r'id="new-token">([^<]+)<', made.text)
    assert token
    assert token.group(1) not in client.get("/account").text
    api = client.get("/api/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.status_code == 200
    token_id = re.search(r"/account/tokens/(\d+)/revoke", client.get("/account").text)
    assert token_id
    client.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    api = client.get("/api/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.status_code == 401


def test_admin_link_shows_for_admins_only(client: TestClient, desk: Desk, app: FastAPI) -> None:
    login(client, desk.owner)
    assert 'href="/admin/members"' in client.get("/").text
    with TestClient(app, follow_redirects=False) as agent:
        login(agent, desk.agent)
        assert "/admin/" not in agent.get("/").text
        assert agent.get("/admin/members").status_code == 403


def test_an_admin_turns_off_a_members_two_factor(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.accounts import service as accounts_service

    agent = session.get_one(Member, desk.agent.id)
    accounts_service.begin_totp(agent)
    agent.totp_enabled = True
    session.commit()
    csrf = login(client, desk.owner)
    page = client.get(f"/admin/members/{desk.agent.id}").text
    assert "Turn off two-factor" in page
    done = client.post(f"/admin/members/{desk.agent.id}/totp/disable", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert not _read(Member, desk.agent.id).totp_enabled
    assert _audit_actions()[-1] == "totp_disabled"
    assert "Turn off two-factor" not in client.get(f"/admin/members/{desk.agent.id}").text


def _failed_event(session: Session, account: BrandAccount, n: int) -> int:
    """An incoming visitor message whose processing failed for good (a connector bug, say)."""
    stored = InboundEvent(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        native_id=f"visitor-{n}:form",
        kind=MESSAGE_EVENT,
        payload={
            "visitor_id": f"visitor-{n}",
            "message_id": f"visitor-{n}:form",
            "text": f"Where is my order {n}?",
            "sent_at": "2026-11-20T09:00:00+00:00",
        },
        received_at=clock.now(),
        status=EventStatus.FAILED.value,
        attempts=5,
        error="gave up after 5 attempts: RuntimeError: the database went away",
        processed_at=clock.now(),
    )
    session.add(stored)
    session.commit()
    return stored.id


def test_failed_incoming_events_are_listed_and_processed_again(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    first = _failed_event(session, desk.web, 1)
    second = _failed_event(session, desk.web, 2)
    csrf = login(client, desk.owner)
    page = client.get(f"/admin/accounts/{desk.web.id}").text
    assert "Incoming events that could not be processed (2)" in page
    assert f'id="failed-event-{first}"' in page
    assert "RuntimeError: the database went away" in page

    one = client.post(
        f"/admin/accounts/{desk.web.id}/events/retry",
        data={"event_id": str(first), "csrf_token": csrf},
    )
    assert one.status_code == 303, one.text
    jobs.run_pending()
    assert _read(InboundEvent, first).status == EventStatus.PROCESSED.value
    assert _read(InboundEvent, second).status == EventStatus.FAILED.value
    page = client.get(f"/admin/accounts/{desk.web.id}").text
    assert "could not be processed (1)" in page

    # Processed already: refused by name, nothing queued twice.
    again = client.post(
        f"/admin/accounts/{desk.web.id}/events/retry",
        data={"event_id": str(first), "csrf_token": csrf},
    )
    assert again.status_code == 422
    assert f"no failed incoming event {first} on this account" in again.text

    every = client.post(
        f"/admin/accounts/{desk.web.id}/events/retry",
        data={"event_id": "all", "csrf_token": csrf},
    )
    assert every.status_code == 303
    jobs.run_pending()
    assert _read(InboundEvent, second).status == EventStatus.PROCESSED.value
    assert "could not be processed" not in client.get(f"/admin/accounts/{desk.web.id}").text
    with get_sessionmaker(write=False)() as reader:
        texts = set(reader.scalars(select(Message.text)))
    assert {"Where is my order 1?", "Where is my order 2?"} <= texts
    assert _audit_actions().count("inbound_events_retried") == 2


def test_an_agent_cannot_process_events_again(
    client: TestClient, desk: Desk, session: Session
) -> None:
    event_id = _failed_event(session, desk.web, 1)
    csrf = login(client, desk.agent)
    refused = client.post(
        f"/admin/accounts/{desk.web.id}/events/retry",
        data={"event_id": str(event_id), "csrf_token": csrf},
    )
    assert refused.status_code == 403
    assert _read(InboundEvent, event_id).status == EventStatus.FAILED.value
