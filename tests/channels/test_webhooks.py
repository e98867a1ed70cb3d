from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts

from socialdesk.app import create_app
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import InboundEvent
from socialdesk.conversations.models import Message

FIXTURES = Path(__file__).resolve().parents[2] / "src/socialdesk/connectors/facebook/fixtures"
SECRET = "app-secret-for-tests"


def _delivery() -> bytes:
    # A documented Page webhook delivery: one new top-level comment.
    return (FIXTURES / "feed.comment.add__top_level.json").read_bytes()


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_facebook_handshake_signature_and_idempotent_deliveries(
    session: Session, jobs: JobRunner
) -> None:
    org = accounts.organization(session)
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="facebook",
        handle="kestrel-page",
        credentials={"page_token": "tok", "app_secret": SECRET, "verify_token": "v-123"},
    )
    session.commit()
    url = f"/webhooks/facebook/{account.public_key}"
    with TestClient(create_app()) as client:
        ok = client.get(
            url,
            params={"hub.mode": "subscribe", "hub.verify_token": "v-123", "hub.challenge": "42"},
        )
        assert (ok.status_code, ok.text) == (200, "42")
        bad = client.get(
            url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "42"}
        )
        assert bad.status_code == 403
        body = _delivery()
        forged = client.post(url, content=body, headers=_signed(body, "wrong-secret"))
        assert forged.status_code == 403
        first = client.post(url, content=body, headers=_signed(body))
        again = client.post(url, content=body, headers=_signed(body))
        assert first.status_code == 200
        assert first.json()["stored"] == 1
        assert again.json() == {"stored": 0, "received": 1}
        assert client.get("/webhooks/facebook/unknown-key").status_code == 404
    jobs.run_pending()
    assert session.scalar(select(func.count()).select_from(InboundEvent)) == 1
    assert session.scalar(select(func.count()).select_from(Message)) == 1
