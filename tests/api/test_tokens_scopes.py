"""API tokens narrowed by scopes, and the CLI that makes the first token."""

from __future__ import annotations

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Role
from socialdesk.app import create_app
from socialdesk.cli import main


def test_a_read_scoped_token_cannot_reply(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    account = channels.brand_account(session, org)
    conversation = ingest(session, account, inbound(native_id="a")).conversation
    session.commit()
    runner = CliRunner()
    made = runner.invoke(
        main, ["users", "token", admin.email, "--name", "dashboard", "--scope", "read"]
    )
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        me = client.get("/api/me", headers=headers).json()
        assert me["permissions"] == ["conversations.read"]
        assert (
            client.get(f"/api/conversations/{conversation.id}", headers=headers).status_code == 200
        )
        refused = client.post(
            f"/api/conversations/{conversation.id}/replies", json={"text": "hi"}, headers=headers
        )
        assert refused.status_code == 403
        assert "scopes do not allow conversations.reply" in refused.json()["error"]["message"]
        created = client.post(
            "/api/tokens", json={"name": "x", "scopes": ["everything"]}, headers=headers
        )
        assert created.status_code in (403, 422)


def test_cli_token_for_unknown_member_is_a_clear_error(session: Session) -> None:
    session.commit()
    result = CliRunner().invoke(main, ["users", "token", "nobody@example.org"])
    assert result.exit_code != 0
    assert "no active member with email nobody@example.org" in result.output
