"""Authenticated XRPC calls on behalf of one brand account.

Every call carries the account's current access token; when the server refuses it (expired,
revoked), the session is renewed once and the call repeated. That repeat is safe even for a
write: a refused token is checked before the server does anything with the request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.session import Session, Sessions
from socialdesk.connectors.bluesky.xrpc import SessionRejected, error_mapper
from socialdesk.connectors.http import ErrorMapper, Gone, GoneTest, HttpClient

HANDLE_TTL = timedelta(hours=1)


class Xrpc:
    def __init__(self, client: HttpClient, sessions: Sessions, *, now: Callable[[], datetime]):
        self.client = client
        self.sessions = sessions
        self._now = now
        self._handles: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._handles_lock = threading.Lock()

    def call(
        self,
        account: BlueskyAccount,
        method: str,
        nsid: str,
        *,
        idempotent: bool,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        mapper: ErrorMapper | None = None,
        gone: GoneTest | None = None,
    ) -> tuple[httpx.Response, Session]:
        """One call with the account's session; returns the response and the session used.
        ``mapper`` and ``gone`` are the shared client's ``error_mapper`` and ``gone``, asked
        before the general XRPC error mapping. ``content`` is a raw body (a blob upload) of
        type ``content_type``."""
        session = self.sessions.current(account)
        try:
            return self._send(
                account=account,
                session=session,
                method=method,
                nsid=nsid,
                idempotent=idempotent,
                params=params,
                json=json,
                content=content,
                content_type=content_type,
                mapper=mapper,
                gone=gone,
            )
        except SessionRejected:
            session = self.sessions.renew_after_rejection(account, session)
        try:
            return self._send(
                account=account,
                session=session,
                method=method,
                nsid=nsid,
                idempotent=idempotent,
                params=params,
                json=json,
                content=content,
                content_type=content_type,
                mapper=mapper,
                gone=gone,
            )
        except SessionRejected as exc:
            raise AuthError(
                f"{exc.reason}: a brand-new session was refused too; the account may be "
                "suspended or its app password revoked"
            ) from exc

    def _send(
        self,
        *,
        account: BlueskyAccount,
        session: Session,
        method: str,
        nsid: str,
        idempotent: bool,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        json: Any,
        content: bytes | None,
        content_type: str | None,
        mapper: ErrorMapper | None,
        gone: GoneTest | None,
    ) -> tuple[httpx.Response, Session]:
        general = error_mapper(account.provider, now=self._now)

        def combined(response: httpx.Response) -> ConnectorError | None:
            specific = mapper(response) if mapper is not None else None
            return specific if specific is not None else general(response)

        headers = session.headers()
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = self.client.request(
            method,
            account.xrpc(nsid),
            idempotent=idempotent,
            headers=headers,
            params=params,
            json=json,
            content=content,
            error_mapper=combined,
            gone=gone,
        )
        return response, session

    def resolve_handle(self, account: BlueskyAccount, handle: str) -> str | None:
        """The DID of ``handle``, or None when no account has it. Cached for a while."""
        key = (account.service_url, handle.lower())
        with self._handles_lock:
            hit = self._handles.get(key)
        if hit is not None and time.monotonic() - hit[0] < HANDLE_TTL.total_seconds():
            return hit[1]

        try:
            response = self.client.request(
                "GET",
                account.xrpc("com.atproto.identity.resolveHandle"),
                idempotent=True,
                params={"handle": handle},
                # An unknown handle is an answer ("no such account"), not a failure.
                gone=lambda answer: answer.status_code == 400,
            )
        except Gone:
            did = None
        else:
            found = response.json().get("did")
            did = str(found) if isinstance(found, str) and found.startswith("did:") else None
        with self._handles_lock:
            self._handles[key] = (time.monotonic(), did)
        return did
