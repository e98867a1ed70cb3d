from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.accounts import PASSWORD
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import audit, flows, invitations
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Role
from socialdesk.accounts.permissions import Permission, has
from socialdesk.channels import service as channels_service
from socialdesk.common import crypto
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotAuthenticated, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Message, Status


def _actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_login_is_audited_and_lockout_follows_repeated_failures(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    member = accounts.member(session, org)
    session.commit()
    for _ in range(5):
        with pytest.raises(accounts_service.LoginFailed, match="wrong email or password"):
            accounts_service.authenticate(
                session, email=member.email, password="nope-nope-nope", source_address="10.0.0.9"
            )
        session.commit()  # as the login page does: failures are kept
    with pytest.raises(accounts_service.LoginFailed, match="locked"):
        accounts_service.authenticate(session, email=member.email, password=PASSWORD)
    assert _actions(session).count("login_failed") == 5
    assert "lockout" in _actions(session)
    clock.advance(timedelta(minutes=16))
    assert (
        accounts_service.authenticate(session, email=member.email, password=PASSWORD).id
        == member.id
    )
    assert _actions(session)[-1] == "login"


def test_one_address_guessing_across_accounts_is_stopped_before_the_password_check(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALDESK_LOGIN_ATTEMPTS_PER_ADDRESS", "3")
    get_settings.cache_clear()
    try:
        org = accounts.organization(session)
        member = accounts.member(session, org)
        session.commit()
        for n in range(3):  # three different accounts: no account lockout comes into play
            with pytest.raises(accounts_service.LoginFailed, match="wrong email or password"):
                accounts_service.authenticate(
                    session,
                    email=f"guess{n}@example.org",
                    password="nope-nope-nope",
                    source_address="203.0.113.7",
                )
            session.commit()  # as the login page does
        with pytest.raises(accounts_service.LoginFailed, match="too many login attempts"):
            accounts_service.authenticate(
                session, email=member.email, password=PASSWORD, source_address="203.0.113.7"
            )
        session.commit()
        # Another address, or the same one once the window has passed, logs in.
        other = accounts_service.authenticate(
            session, email=member.email, password=PASSWORD, source_address="198.51.100.2"
        )
        assert other.id == member.id
        # The window slides: the burst counts in part until it is a whole window behind.
        clock.advance(accounts_service.LOGIN_ADDRESS_WINDOW * 2)
        again = accounts_service.authenticate(
            session, email=member.email, password=PASSWORD, source_address="203.0.113.7"
        )
        assert again.id == member.id
    finally:
        monkeypatch.delenv("SOCIALDESK_LOGIN_ATTEMPTS_PER_ADDRESS")
        get_settings.cache_clear()


def test_a_shift_logging_in_from_one_address_is_not_stopped_but_its_guesses_are(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALDESK_LOGIN_ATTEMPTS_PER_ADDRESS", "3")
    get_settings.cache_clear()
    try:
        org = accounts.organization(session)
        team = [accounts.member(session, org) for _ in range(6)]
        session.commit()
        office = "192.0.2.10"
        for member in team:  # twice the limit, all at once, all right
            logged_in = accounts_service.authenticate(
                session, email=member.email, password=PASSWORD, source_address=office
            )
            assert logged_in.id == member.id
            session.commit()
        for n in range(3):  # the failures still count, as many as the limit allows
            with pytest.raises(accounts_service.LoginFailed, match="wrong email or password"):
                accounts_service.authenticate(
                    session, email=f"guess{n}@example.org", password="nope", source_address=office
                )
            session.commit()
        with pytest.raises(accounts_service.LoginFailed, match="too many login attempts"):
            accounts_service.authenticate(
                session, email=team[0].email, password=PASSWORD, source_address=office
            )
    finally:
        monkeypatch.delenv("SOCIALDESK_LOGIN_ATTEMPTS_PER_ADDRESS")
        get_settings.cache_clear()


def test_unknown_email_gets_the_same_answer(session: Session) -> None:
    with pytest.raises(accounts_service.LoginFailed, match="wrong email or password"):
        accounts_service.authenticate(session, email="nobody@example.org", password="whatever-123")


def test_audit_trail_refuses_updates_and_deletes(session: Session) -> None:
    org = accounts.organization(session)
    audit.record(session, organization_id=org.id, action="export", actor=None)
    session.commit()
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert _actions(session) == ["export"]


def test_invitation_is_single_use_and_expires(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    team = accounts_service.create_team(session, organization_id=org.id, name="Billing")
    new = invitations.invite(
        session, inviter=admin, email="New.Person@example.org", role=Role.AGENT, team_ids=[team.id]
    )
    session.commit()
    member = invitations.accept(
        session, token=new.token, name="New Person", password="a long password"
    )
    session.commit()
    assert member.email == "new.person@example.org"
    assert member.role == "agent"
    assert (
        accounts_service.authenticate(session, email=member.email, password="a long password").id
        == member.id
    )
    with pytest.raises(Conflict, match="already used"):
        invitations.accept(session, token=new.token, name="Again", password="a long password")
    late = invitations.invite(session, inviter=admin, email="late@example.org", role=Role.VIEWER)
    clock.advance(timedelta(days=8))
    with pytest.raises(ValidationFailed, match="expired"):
        invitations.accept(session, token=late.token, name="Late", password="a long password")


@pytest.mark.parametrize("email", ["", "   ", "no-at-sign", "two@@example.org", "a@b"])
def test_an_invitation_needs_an_email_address(session: Session, email: str) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    with pytest.raises(ValidationFailed, match="is not an email address") as refused:
        invitations.invite(session, inviter=admin, email=email, role=Role.AGENT)
    assert refused.value.field == "email"


def test_only_owners_make_owners_and_the_last_owner_stays(session: Session) -> None:
    org = accounts.organization(session)
    owner = accounts.member(session, org, role=Role.OWNER)
    admin = accounts.member(session, org, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        invitations.invite(session, inviter=admin, email="o2@example.org", role=Role.OWNER)
    with pytest.raises(PermissionDenied):
        accounts_service.change_role(session, member=admin, role=Role.OWNER, actor=admin)
    with pytest.raises(Conflict, match="last owner"):
        accounts_service.change_role(session, member=owner, role=Role.ADMIN, actor=owner)
    accounts_service.change_role(session, member=admin, role=Role.APPROVER, actor=owner)
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "role_changed")).one()
    assert (event.before, event.after) == ({"role": "admin"}, {"role": "approver"})


def test_password_reset_ends_every_session(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    member = accounts.member(session, org)
    login = accounts_service.start_session(session, member=member, source_address=None)
    reset = invitations.request_reset(session, member=member, actor=None)
    session.commit()
    invitations.reset_password(session, token=reset.token, password="another long password")
    session.commit()
    assert accounts_service.resolve_session(session, token=login.token) is None
    with pytest.raises(ValidationFailed):
        invitations.reset_password(session, token=reset.token, password="yet another password")


def test_token_scopes_narrow_the_role(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    viewer = accounts.member(session, org, role=Role.VIEWER)
    assert has(admin, Permission.REPLY, ["read"]) is False
    assert has(admin, Permission.READ, ["read"]) is True
    assert has(viewer, Permission.REPLY, ["reply"]) is False  # scopes never widen a role
    with pytest.raises(ValidationFailed, match="unknown scope"):
        accounts_service.create_api_token(session, member=admin, name="x", scopes=["everything"])


def test_totp_second_factor(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    member = accounts.member(session, org)
    uri = accounts_service.begin_totp(member)
    secret = pyotp.parse_uri(uri).secret
    accounts_service.enable_totp(session, member=member, code=pyotp.TOTP(secret).at(clock.now()))
    session.commit()
    with pytest.raises(accounts_service.TotpRequired):
        accounts_service.authenticate(session, email=member.email, password=PASSWORD)
    with pytest.raises(NotAuthenticated):
        accounts_service.authenticate(
            session, email=member.email, password=PASSWORD, totp_code="000000"
        )
    code = pyotp.TOTP(secret).at(clock.now())
    assert (
        accounts_service.authenticate(
            session, email=member.email, password=PASSWORD, totp_code=code
        ).id
        == member.id
    )


def test_offboarding_revokes_access_hands_over_work_and_keeps_history(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    leaver = accounts.member(session, org, name="Leaving Person")
    colleague = accounts.member(session, org)
    account = channels.brand_account(session, org)
    login = accounts_service.start_session(session, member=leaver, source_address=None)
    token = accounts_service.create_api_token(session, member=leaver, name="script")
    open_one = ingest(session, account, inbound(native_id="a", author="c1")).conversation
    done = ingest(session, account, inbound(native_id="b", author="c2")).conversation
    for conversation in (open_one, done):
        conversations_service.assign(
            session, conversation=conversation, assignee_id=leaver.id, actor=admin
        )
    conversations_service.add_note(
        session, conversation=open_one, author=leaver, text="Called the customer"
    )
    conversations_service.set_status(
        session, conversation=done, status=Status.RESOLVED, actor=leaver
    )
    session.commit()

    report = flows.deactivate(session, member=leaver, actor=admin, hand_to_member_id=colleague.id)
    session.commit()

    assert report.sessions_ended == 1
    assert report.tokens_revoked == 1
    assert [(h.conversation_id, h.to_member_id) for h in report.conversations] == [
        (open_one.id, colleague.id)
    ]
    assert accounts_service.resolve_session(session, token=login.token) is None
    assert accounts_service.resolve_api_token(session, token=token.token) is None
    with pytest.raises(NotAuthenticated):
        accounts_service.authenticate(session, email=leaver.email, password=PASSWORD)
    assert done.assignee_id == leaver.id  # resolved history keeps its owner
    note = session.scalars(select(Message).where(Message.visibility == "note")).one()
    assert note.author_member_id == leaver.id
    assert "member_deactivated" in _actions(session)
    flows.reactivate(session, member=leaver, actor=admin)
    session.commit()
    assert (
        accounts_service.authenticate(session, email=leaver.email, password=PASSWORD).id
        == leaver.id
    )


def test_offboarding_without_successor_returns_work_to_the_team_queue(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    leaver = accounts.member(session, org)
    team = accounts_service.create_team(session, organization_id=org.id, name="Field service")
    accounts_service.add_to_team(session, team=team, member=leaver)
    account = channels.brand_account(session, org)
    conversation = ingest(session, account, inbound(native_id="a")).conversation
    conversations_service.assign(
        session, conversation=conversation, assignee_id=leaver.id, actor=admin
    )
    report = flows.deactivate(session, member=leaver, actor=admin)
    session.commit()
    assert conversation.assignee_id is None
    assert conversation.team_id == team.id
    assert report.conversations[0].to_team_id == team.id


def test_credentials_are_never_stored_in_clear(session: Session) -> None:
    org = accounts.organization(session)
    secret = "xoxb-very-secret-token-123"
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="mastodon",
        handle="@brand@example.social",
        credentials={"access_token": secret},
    )
    session.commit()
    raw = session.execute(text("SELECT * FROM brand_accounts")).all()
    assert secret not in repr(raw)
    assert secret.encode() not in (account.credentials_encrypted or b"")
    assert channels_service.context_for(account).credentials == {"access_token": secret}
    rotated = crypto.rotate(account.credentials_encrypted or b"")
    assert crypto.decrypt_json(rotated) == {"access_token": secret}


def test_brand_account_access_limits_who_may_reply(session: Session) -> None:
    org = accounts.organization(session)
    member = accounts.member(session, org)
    other = accounts.member(session, org)
    team = accounts_service.create_team(session, organization_id=org.id, name="Comms")
    accounts_service.add_to_team(session, team=team, member=other)
    account = channels.brand_account(session, org)
    assert channels_service.may_act_for(session, account=account, member_id=member.id)
    channels_service.set_access(session, account=account, member_ids=[], team_ids=[team.id])
    session.flush()
    assert not channels_service.may_act_for(session, account=account, member_id=member.id)
    assert channels_service.may_act_for(session, account=account, member_id=other.id)
    # Listed by name as well; another account's list says nothing of this one.
    channels_service.set_access(
        session, account=account, member_ids=[member.id], team_ids=[team.id]
    )
    open_account = channels.brand_account(session, org)
    session.flush()
    assert channels_service.may_act_for(session, account=account, member_id=member.id)
    assert channels_service.may_act_for(session, account=account, member_id=other.id)
    outsider = accounts.member(session, org)
    assert not channels_service.may_act_for(session, account=account, member_id=outsider.id)
    assert channels_service.may_act_for(session, account=open_account, member_id=outsider.id)
