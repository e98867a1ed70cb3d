"""Connecting a Mastodon account: app registration per instance and the OAuth code flow.

1. :func:`register_app` once per instance: ``POST /api/v1/apps`` gives a client id and secret
   (store them per instance; they are not secret from the instance, but they are the desk's).
2. :func:`authorization_url`: send the admin to their instance to approve the desk.
3. :func:`exchange_code`: ``POST /oauth/token`` gives an access token. Mastodon tokens do not
   expire; they end when the user revokes the app (a 401 then marks the account unhealthy).
4. :func:`fetch_instance`: the instance's own domain (the one in ``@user@domain``) and post
   limit, read before saving the account.

:func:`instance_url_from` turns what a person typed ("social.example", a URL, a handle) into
the instance's base URL.

https://docs.joinmastodon.org/client/token/ and https://docs.joinmastodon.org/methods/apps/
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError
from socialdesk.connectors.http import ErrorMapper, HttpClient, error_detail
from socialdesk.connectors.mastodon.send import DEFAULT_MAX_CHARACTERS, limits_from_instance

# Granular scopes (Mastodon 3.1+): mentions, thread context, the brand's own profile, replies,
# and the files of replies. Accounts connected before write:media was asked for must connect
# again to send files (an upload answers 403 until they do).
SCOPES = (
    "read:notifications",
    "read:statuses",
    "read:accounts",
    "write:statuses",
    "write:media",
)


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


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_LOOPBACK = frozenset({"localhost"})
_HANDLE = re.compile(r"^@?[^@/\s:]+@([^@/\s]+)$")


def instance_url_from(raw: str) -> str:
    """The base URL of the instance a person named: ``social.example``,
    ``https://social.example/``, ``@brand@social.example`` or ``brand@social.example`` all give
    ``https://social.example``. Plain ``http`` is accepted only for this machine (a test
    instance); anything else raises ValueError saying what was expected."""
    text = raw.strip()
    if not text:
        raise ValueError("enter the instance's domain, for example mastodon.social")
    handle = _HANDLE.match(text)
    if handle:
        text = handle.group(1)  # a handle: the instance is after the last @
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower().rstrip(".")
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not host or parts.username or parts.password:
        raise ValueError(f"{raw.strip()!r} is not an instance's domain, e.g. mastodon.social")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(
            f"{raw.strip()!r} has a path; enter only the instance's domain, e.g. mastodon.social"
        )
    local = host in _LOOPBACK or _is_loopback_ip(host)
    if not local and ("." not in host or not _HOST.match(host)):
        raise ValueError(f"{host!r} is not a domain name, e.g. mastodon.social")
    if scheme == "http" and not local:
        raise ValueError(f"use https for {host}: tokens must not travel in clear")
    port = f":{parts.port}" if parts.port else ""
    return f"{scheme}://{host}{port}"


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Instance:
    """What the desk keeps about an instance when connecting an account on it."""

    url: str
    domain: str  # the domain of its handles (may differ from the URL's host)
    max_characters: int


def fetch_instance(client: HttpClient, *, instance_url: str) -> Instance:
    """Ask the instance who it is: ``/api/v2/instance`` (Mastodon 4.0+), else
    ``/api/v1/instance``. Raises the client's error when the instance cannot be reached or
    answers neither (not a Mastodon-compatible server)."""
    instance_url = instance_url.rstrip("/")
    host = urlsplit(instance_url).netloc
    failure: ConnectorError | None = None
    for path in ("/api/v2/instance", "/api/v1/instance"):
        try:
            response = client.request("GET", instance_url + path, idempotent=True)
            document: Any = response.json()
        except ConnectorError as exc:
            failure = failure or exc
            continue
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        # v2 names the handles' domain "domain"; v1 calls it "uri" (a bare domain there).
        domain = str(document.get("domain") or document.get("uri") or host)
        domain = urlsplit(domain).netloc if "://" in domain else domain
        limits = limits_from_instance(document)
        return Instance(instance_url, domain or host, limits.max_characters)
    if failure is not None:
        raise failure
    raise AuthError(f"{host} answered, but not as a Mastodon instance (no instance document)")


def handle_for(account: dict[str, Any], *, domain: str) -> str:
    """``@user@domain`` for the account ``verify_credentials`` returned (its ``acct`` is the
    bare username on its own instance)."""
    user = str(account.get("acct") or account.get("username") or "").split("@", 1)[0]
    if not user:
        raise AuthError(f"{domain} did not say which account approved the desk")
    return f"@{user}@{domain}"


__all__ = [
    "DEFAULT_MAX_CHARACTERS",
    "SCOPES",
    "App",
    "Instance",
    "authorization_url",
    "exchange_code",
    "fetch_instance",
    "handle_for",
    "instance_url_from",
    "register_app",
]


def _oauth_error(instance_url: str) -> ErrorMapper:
    def mapped(response: httpx.Response) -> ConnectorError | None:
        if 400 <= response.status_code < 500 and response.status_code != 429:
            return AuthError(
                f"{instance_url} refused ({response.status_code}: "
                f"{error_detail(response) or 'no reason given'}); connect the account again"
            )
        return None

    return mapped
