"""Connecting a Mastodon account: app registration per instance and the OAuth code flow.

1. :func:`register_app` once per instance: ``POST /api/v1/apps`` gives a client id and secret
   (store them per instance; they are not secret from the instance, but they are the desk's).
2. :func:`authorization_url`: send the admin to their instance to approve the desk.
3. :func:`exchange_code`: ``POST /oauth/token`` gives an access token. Mastodon tokens do not
   expire; they end when the user revokes the app (a 401 then marks the account unhealthy).

https://docs.joinmastodon.org/client/token/ and https://docs.joinmastodon.org/methods/apps/
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError
from socialdesk.connectors.http import ErrorMapper, HttpClient, error_detail

# Granular scopes (Mastodon 3.1+): mentions, thread context, the brand's own profile, replies.
SCOPES = ("read:notifications", "read:statuses", "read:accounts", "write:statuses")


@dataclass(frozen=True, slots=True)
class App:
    instance_url: str
    client_id: str
    client_secret: str


def register_app(
    client: HttpClient,
    *,
    instance_url: str,
    redirect_uri: str,
    client_name: str = "socialdesk",
    website: str | None = None,
    scopes: tuple[str, ...] = SCOPES,
) -> App:
    instance_url = instance_url.rstrip("/")
    form = {"client_name": client_name, "redirect_uris": redirect_uri, "scopes": " ".join(scopes)}
    if website:
        form["website"] = website
    response = client.request(
        "POST",
        instance_url + "/api/v1/apps",
        # Registering twice only leaves an unused app behind; repeating is harmless.
        idempotent=True,
        data=form,
        error_mapper=_oauth_error(instance_url),
    )
    body = response.json()
    try:
        return App(instance_url, str(body["client_id"]), str(body["client_secret"]))
    except KeyError as exc:
        raise AuthError(f"{instance_url} registered the app but sent no {exc}") from exc


def authorization_url(
    app: App, *, redirect_uri: str, state: str, scopes: tuple[str, ...] = SCOPES
) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
        }
    )
    return f"{app.instance_url}/oauth/authorize?{query}"


def exchange_code(
    client: HttpClient,
    *,
    app: App,
    code: str,
    redirect_uri: str,
    scopes: tuple[str, ...] = SCOPES,
) -> str:
    """The access token for the approved account."""
    response = client.request(
        "POST",
        app.instance_url + "/oauth/token",
        idempotent=False,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
        },
        error_mapper=_oauth_error(app.instance_url),
    )
    token = response.json().get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthError(f"{app.instance_url} answered the token request without a token")
    return token


def _oauth_error(instance_url: str) -> ErrorMapper:
    def mapped(response: httpx.Response) -> ConnectorError | None:
        if 400 <= response.status_code < 500 and response.status_code != 429:
            return AuthError(
                f"{instance_url} refused ({response.status_code}: "
                f"{error_detail(response) or 'no reason given'}); connect the account again"
            )
        return None

    return mapped
