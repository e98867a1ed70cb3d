"""What the Bluesky send, poll and session tests share: the recorded responses and a connector
wired to a scripted provider."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

import socialdesk.connectors.bluesky as bluesky_pkg
from socialdesk.connectors.base import AccountContext
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.bluesky.session import jwt_claims
from socialdesk.connectors.http import RetryPolicy
from tests.connectors.fake_http import FakeProvider, recorded

FIXTURES = Path(bluesky_pkg.__file__).parent / "fixtures"
RESPONSES = FIXTURES / "responses"
SERVICE = "https://pds.example"
ACCOUNT_ID = 7


def response(name: str) -> httpx.Response:
    return recorded(RESPONSES / f"{name}.json")


def body(name: str) -> Any:
    return json.loads((RESPONSES / f"{name}.json").read_text(encoding="utf-8"))["body"]


def xrpc(nsid: str) -> str:
    return f"/xrpc/{nsid}"


SESSION = body("create_session")
BRAND_DID = str(SESSION["did"])
# A minute after the recorded session was issued: its access token is good for two hours.
ISSUED = datetime.fromtimestamp(jwt_claims(SESSION["accessJwt"])["iat"], tz=UTC)
NOW = ISSUED + timedelta(minutes=1)


def context(
    credentials: dict[str, str] | None = None, settings: dict[str, Any] | None = None
) -> AccountContext:
    return AccountContext(
        brand_account_id=ACCOUNT_ID,
        handle=str(SESSION["handle"]),
        settings={"service_url": SERVICE, **(settings or {})},
        credentials=credentials
        if credentials is not None
        else {"identifier": str(SESSION["handle"]), "app_password": "abcd-efgh-ijkl-mnop"},
    )


def stored_session() -> dict[str, str]:
    """Credentials as the desk keeps them after the first sign-in."""
    return {
        "identifier": str(SESSION["handle"]),
        "app_password": "abcd-efgh-ijkl-mnop",
        "did": BRAND_DID,
        "handle": str(SESSION["handle"]),
        "access_jwt": str(SESSION["accessJwt"]),
        "refresh_jwt": str(SESSION["refreshJwt"]),
    }


def token(claims: dict[str, Any]) -> str:
    """A JWT-shaped token with ``claims`` (unsigned: the connector only reads its times)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'typ': 'at+jwt', 'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


def session_answer(name: str, *, issued: datetime) -> httpx.Response:
    """A recorded session answer (``create_session`` or ``refresh_session``) with tokens issued
    at ``issued``: recorded tokens have long expired at a time the test moves to."""
    answer = dict(body(name))
    iat = int(issued.timestamp())
    answer["accessJwt"] = token({"sub": answer["did"], "iat": iat, "exp": iat + 7200})
    answer["refreshJwt"] = token({"sub": answer["did"], "iat": iat, "exp": iat + 90 * 86400})
    return httpx.Response(200, json=answer)


def connector(provider: FakeProvider, *, now: datetime = NOW) -> BlueskyConnector:
    return BlueskyConnector(
        transport=provider.transport,
        policy=RetryPolicy(max_attempts=2, base_delay=0.0, max_wait=5.0),
        sleep=lambda _seconds: None,
        now=lambda: now,
    )
