"""Bluesky sessions: app-password login, refresh, and handing the fresh session back.

A session is two JWTs: a short-lived access token (about two hours on Bluesky's servers) and a
refresh token (about two months) that ``com.atproto.server.refreshSession`` trades for a new
pair, rotating the refresh token. Logging in again with the app password
(``com.atproto.server.createSession``) is the fallback when the refresh token is spent; it is
rate limited (30 per 5 minutes, 300 per day per account), so the session is reused, not
recreated per call.

The tokens are decoded here only to learn when they expire and which is newer; the server
verifies them. Every new session is kept in memory per brand account (so a process reuses it)
and queued as a credentials update for the desk to store encrypted (see
:meth:`Sessions.take_update`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.xrpc import SessionRejected, error_mapper, error_name
from socialdesk.connectors.http import HttpClient

log = logging.getLogger(__name__)

# Renew a little before the access token expires, so a request never leaves with a token that
# dies on the way.
REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Session:
    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str

    @property
    def expires_at(self) -> datetime | None:
        return _claim_time(self.access_jwt, "exp")

    @property
    def issued_at(self) -> datetime | None:
        return _claim_time(self.access_jwt, "iat")

    def expiring(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        expires = self.expires_at
        return expires is not None and expires - margin <= now

    def credentials(self) -> dict[str, str]:
        return {
            "did": self.did,
            "handle": self.handle,
            "access_jwt": self.access_jwt,
            "refresh_jwt": self.refresh_jwt,
        }

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}

    def __repr__(self) -> str:  # tokens must never reach logs or tracebacks
        return f"Session(did={self.did!r}, handle={self.handle!r})"

    @classmethod
    def from_response(cls, body: Any) -> Session:
        try:
            return cls(
                did=str(body["did"]),
                handle=str(body.get("handle") or ""),
                access_jwt=str(body["accessJwt"]),
                refresh_jwt=str(body["refreshJwt"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConnectorError(f"Bluesky session answer lacks {exc}") from exc


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (only to learn its times); {} when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _claim_time(token: str, claim: str) -> datetime | None:
    value = jwt_claims(token).get(claim)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def stored_session(account: BlueskyAccount) -> Session | None:
    """The session kept in the account's credentials, if any."""
    if account.refresh_jwt is None:
        return None
    return Session(
        did=account.did or str(jwt_claims(account.refresh_jwt).get("sub") or ""),
        handle=account.identifier,
        access_jwt=account.access_jwt or "",
        refresh_jwt=account.refresh_jwt,
    )


def newest(a: Session | None, b: Session | None) -> Session | None:
    """Of two sessions, the one issued last (the other's refresh token may be spent)."""
    if a is None or b is None:
        return a or b
    a_at, b_at = a.issued_at, b.issued_at
    if a_at is None:
        return b
    if b_at is None:
        return a
    return a if a_at >= b_at else b


class Sessions:
    """The sessions of every brand account this process acts for. Thread-safe: one renewal per
    account at a time, so two workers do not spend the same refresh token."""

    def __init__(self, client: HttpClient, *, now: Callable[[], datetime]) -> None:
        self._client = client
        self._now = now
        self._cache: dict[int, Session] = {}
        self._updates: dict[int, Session] = {}
        self._guard = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}

    def _lock(self, brand_account_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(brand_account_id, threading.Lock())

    def current(self, account: BlueskyAccount) -> Session:
        """A session whose access token is good for a while: the newest known, refreshed or
        created as needed."""
        with self._lock(account.brand_account_id):
            with self._guard:
                cached = self._cache.get(account.brand_account_id)
            session = newest(cached, stored_session(account))
            if session is not None and session.access_jwt and not session.expiring(self._now()):
                return session
            return self._renew(account, session)

    def renew_after_rejection(self, account: BlueskyAccount, rejected: Session) -> Session:
        """The server refused ``rejected``'s access token: renew, unless another thread did
        already."""
        with self._lock(account.brand_account_id):
            with self._guard:
                cached = self._cache.get(account.brand_account_id)
            if cached is not None and cached.access_jwt != rejected.access_jwt:
                return cached
            return self._renew(account, rejected)

    def take_update(self, brand_account_id: int) -> dict[str, str] | None:
        """The session obtained since the last call, as credential entries to merge into the
        account's stored credentials (None when nothing changed)."""
        with self._guard:
            update = self._updates.pop(brand_account_id, None)
        return update.credentials() if update is not None else None

    def forget(self, brand_account_id: int) -> None:
        with self._guard:
            self._cache.pop(brand_account_id, None)
            self._updates.pop(brand_account_id, None)

    def _renew(self, account: BlueskyAccount, session: Session | None) -> Session:
        fresh: Session | None = None
        if session is not None:
            try:
                fresh = self._refresh(account, session)
            except SessionRejected as exc:
                if account.app_password is None:
                    raise AuthError(
                        f"{account.provider}: the saved session for {account.identifier} has "
                        f"expired ({exc.reason}) and no app password is stored; connect the "
                        "account again"
                    ) from exc
                log.info("%s: refresh refused, signing in again", account.provider)
        if fresh is None:
            fresh = self._login(account)
        with self._guard:
            self._cache[account.brand_account_id] = fresh
            self._updates[account.brand_account_id] = fresh
        return fresh

    def _refresh(self, account: BlueskyAccount, session: Session) -> Session:
        response = self._client.request(
            "POST",
            account.xrpc("com.atproto.server.refreshSession"),
            # Repeating it is harmless: at worst the second answer refuses a spent token and
            # the app password signs in.
            idempotent=True,
            headers={"Authorization": f"Bearer {session.refresh_jwt}"},
            error_mapper=error_mapper(account.provider, now=self._now),
        )
        return Session.from_response(response.json())

    def _login(self, account: BlueskyAccount) -> Session:
        if account.app_password is None:
            raise AuthError(
                f"{account.provider}: no app password is stored for {account.identifier}; "
                "connect the account again"
            )
        body: dict[str, str] = {"identifier": account.identifier, "password": account.app_password}
        response = self._client.request(
            "POST",
            account.xrpc("com.atproto.server.createSession"),
            idempotent=True,
            json=body,
            error_mapper=_login_errors(account, now=self._now),
        )
        return Session.from_response(response.json())


def _login_errors(
    account: BlueskyAccount, *, now: Callable[[], datetime]
) -> Callable[[httpx.Response], ConnectorError | None]:
    general = error_mapper(account.provider, now=now)

    def mapped(response: httpx.Response) -> ConnectorError | None:
        name, message = error_name(response)
        if response.status_code == 401 or name == "AuthenticationRequired":
            return AuthError(
                f"{account.provider} refused the app password for {account.identifier} "
                f"({message or name or 'invalid identifier or password'}): it was revoked or "
                "mistyped; create a new app password and connect the account again"
            )
        if name == "AuthFactorTokenRequired":
            return AuthError(
                f"{account.provider} asks for an e-mail sign-in code for {account.identifier}: "
                "use an app password, which signs in without one"
            )
        mapped_error = general(response)
        if isinstance(mapped_error, SessionRejected):
            return AuthError(mapped_error.reason)
        return mapped_error

    return mapped


def merge_credentials(
    stored: Mapping[str, str], update: Mapping[str, str] | None
) -> dict[str, str]:
    """The account's credentials with a session update applied (the app password stays)."""
    merged = dict(stored)
    if update:
        merged.update(update)
    return merged
