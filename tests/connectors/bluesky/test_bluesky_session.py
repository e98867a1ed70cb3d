"""Sessions: reading token times, choosing the newest, keeping tokens out of logs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from socialdesk.connectors.base import AccountContext, AuthError
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.session import Session, jwt_claims, newest
from tests.connectors.bluesky.support import ISSUED, SESSION, context, stored_session, token


def test_recorded_tokens_carry_their_times() -> None:
    claims = jwt_claims(str(SESSION["accessJwt"]))
    assert claims["sub"] == SESSION["did"]
    assert claims["exp"] - claims["iat"] == 2 * 3600  # the reference server's access lifetime
    session = Session.from_response(SESSION)
    assert session.issued_at == ISSUED
    assert session.expires_at == ISSUED + timedelta(hours=2)
    assert not session.expiring(ISSUED + timedelta(minutes=100))
    assert session.expiring(ISSUED + timedelta(minutes=116))  # within the 5-minute margin


@pytest.mark.parametrize("value", ["", "abc", "a.b.c", "a.!!!.c"])
def test_anything_else_has_no_claims(value: str) -> None:
    assert jwt_claims(value) == {}


def test_the_newest_session_wins() -> None:
    def made(at: int) -> Session:
        return Session("did:plc:x", "x.test", token({"iat": at, "exp": at + 60}), "r")

    old, new = made(1000), made(2000)
    assert newest(old, new) is new
    assert newest(new, old) is new
    assert newest(None, old) is old
    unknown = Session("did:plc:x", "x.test", "opaque", "r")
    assert newest(unknown, old) is old


def test_tokens_stay_out_of_reprs() -> None:
    session = Session.from_response(SESSION)
    assert str(SESSION["accessJwt"]) not in repr(session)
    assert str(SESSION["refreshJwt"]) not in repr(session)
    assert "abcd-efgh" not in repr(context(stored_session()))


def test_settings_are_checked() -> None:
    with pytest.raises(AuthError, match="service_url"):
        BlueskyAccount.from_context(context(settings={"service_url": "pds.example"}))
    bare = AccountContext(brand_account_id=1, handle="shop.test", settings={}, credentials={})
    with pytest.raises(AuthError, match="app password"):
        BlueskyAccount.from_context(bare)
    account = BlueskyAccount.from_context(
        AccountContext(
            brand_account_id=1,
            handle="@shop.test",
            settings={"langs": "en"},
            credentials={"app_password": "x"},
        )
    )
    assert account.identifier == "shop.test"  # the handle, when no identifier is stored
    assert account.service_url == "https://bsky.social"
    assert account.langs == ("en",)
