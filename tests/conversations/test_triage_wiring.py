"""Triage runs in the ingest flow; results roll up; corrections are stored and exported."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.cli import main
from socialdesk.conversations.models import Priority
from socialdesk.triage import service as triage_service
from socialdesk.triage.models import MessageTriage


def test_inbound_messages_are_triaged_and_rolled_up(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    angry = ingest(
        session,
        account,
        inbound(
            native_id="a", text="My internet has been DOWN since yesterday, this is unacceptable!"
        ),
    )
    session.commit()
    row = session.get_one(MessageTriage, angry.message.id)
    assert row.sentiment == "negative"
    assert row.complaint is True
    assert row.reasons  # every label is explained
    conversation = angry.conversation
    assert conversation.is_complaint is True
    assert conversation.sentiment == "negative"
    assert conversation.language == "en"
    assert conversation.priority >= Priority.HIGH


def test_brand_messages_are_not_triaged(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    sent = ingest(
        session, account, inbound(native_id="b", text="Sorry to hear that!", from_brand=True)
    )
    session.commit()
    assert session.get(MessageTriage, sent.message.id) is None


def test_a_correction_is_applied_stored_and_exported_for_training(
    session: Session, tmp_path: Path
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    agent = accounts.member(session, org)
    praise = ingest(
        session, account, inbound(native_id="c", text="Thanks, the new timetable works well")
    )
    session.commit()
    triage_service.correct(
        session,
        organization_id=org.id,
        message_id=praise.message.id,
        field="intent",
        value="idea",
        member=agent,
    )
    session.commit()
    assert session.get_one(MessageTriage, praise.message.id).intent == "idea"
    assert praise.conversation.intent == "idea"
    out = tmp_path / "corrections.jsonl"
    result = CliRunner().invoke(main, ["triage", "export-corrections", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"text": "Thanks, the new timetable works well", "field": "intent", "label": "idea"}
    ]
    with pytest.raises(Exception, match="intent must be one of"):
        triage_service.correct(
            session,
            organization_id=org.id,
            message_id=praise.message.id,
            field="intent",
            value="rant",
            member=agent,
        )


def test_triage_needs_no_network(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    result = ingest(session, account, inbound(native_id="d", text="Where is my refund?"))
    session.flush()
    assert session.get_one(MessageTriage, result.message.id).intent in {"question", "complaint"}
