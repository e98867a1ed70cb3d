"""Before anyone writes a reply, each network connector says (with no network call) why a send
from an account would be refused: no token yet, a setting missing or not an address. A set-up
account says nothing. The website chat needs nothing and does not take part."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from socialdesk.connectors import registry
from socialdesk.connectors.base import AccountContext, SendReadiness

# What each channel's account holds once it is set up (values as the set-up pages store them).
SET_UP: dict[str, tuple[dict[str, object], dict[str, str]]] = {
    "x": ({}, {"access_token": "x-token"}),
    "mastodon": (
        {"instance_url": "https://mastodon.example"},
        {"access_token": "m-token"},
    ),
    "bluesky": ({}, {"identifier": "kestrel.example", "app_password": "abcd-efgh-ijkl-mnop"}),
    "facebook": ({"page_id": "1234567890"}, {"page_access_token": "f-token"}),
    "email": (
        {"address": "care@kestrel.example", "smtp_host": "smtp.kestrel.example"},
        {"username": "care", "password": "secret"},
    ),
}

# What is missing when nothing has been set up, in the words the reply box shows.
MISSING = {
    "x": "has no access token",
    "mastodon": "has no valid instance_url setting",
    "bluesky": "app password",
    "facebook": "has no valid page_id setting",
    "email": "has no smtp_host setting",
}


def _context(settings: Mapping[str, object], credentials: Mapping[str, str]) -> AccountContext:
    return AccountContext(
        brand_account_id=1, handle="kestrel", settings=dict(settings), credentials=dict(credentials)
    )


@pytest.mark.parametrize("kind", sorted(SET_UP))
def test_a_network_connector_says_what_is_missing_and_nothing_once_set_up(kind: str) -> None:
    connector = registry.get(kind)
    assert isinstance(connector, SendReadiness)
    reason = connector.not_ready(
        _context({"address": "care@kestrel.example"} if kind == "email" else {}, {})
    )
    assert reason is not None
    assert MISSING[kind] in reason
    settings, credentials = SET_UP[kind]
    assert connector.not_ready(_context(settings, credentials)) is None


def test_each_part_is_checked_not_only_the_first() -> None:
    mastodon = registry.get("mastodon")
    assert isinstance(mastodon, SendReadiness)
    reason = mastodon.not_ready(_context({"instance_url": "https://mastodon.example"}, {}))
    assert reason is not None
    assert "has no access token" in reason


def test_the_website_chat_needs_nothing() -> None:
    assert not isinstance(registry.get("web"), SendReadiness)
