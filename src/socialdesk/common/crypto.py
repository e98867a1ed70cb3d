"""Secrets at rest (Fernet, with key rotation), token hashing and keyed digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session

from socialdesk.config import get_settings


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in get_settings().fernet_keys()])


def encrypt_json(value: Mapping[str, str]) -> bytes:
    return _fernet().encrypt(json.dumps(dict(value), sort_keys=True).encode())


def decrypt_json(token: bytes) -> dict[str, str]:
    try:
        data = json.loads(_fernet().decrypt(token))
    except InvalidToken:
        raise ValueError(
            "stored credentials cannot be decrypted with the configured keys "
            "(SOCIALDESK_ENCRYPTION_KEYS): was a key removed before `socialdesk keys rotate`?"
        ) from None
    if not isinstance(data, dict):
        raise ValueError("stored credentials are not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def rotate(token: bytes) -> bytes:
    """Re-encrypt under the first (newest) key."""
    return _fernet().rotate(token)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """Tokens are random and long, so a keyed fast hash is right (no need for a slow KDF)."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def digest(purpose: str, value: str, *, size: int = 12) -> str:
    """A short keyed digest of ``value`` (URL-safe base64, ``size`` bytes): only a server with
    the secret key can make it, and one made for another ``purpose`` never stands in for it."""
    key = get_settings().secret_key.encode()
    mac = hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(value: str) -> str:
    key = get_settings().secret_key.encode()
    mac = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(signed: str) -> str | None:
    value, _, _mac = signed.rpartition(".")
    if not value or not hmac.compare_digest(sign(value), signed):
        return None
    return value


def rotate_all(session: Session) -> dict[str, int]:
    """Re-encrypt every secret stored at rest under the newest key. Audited."""
    from sqlalchemy import select

    from socialdesk.accounts import audit
    from socialdesk.accounts.models import Member, Organization, Team
    from socialdesk.channels.models import BrandAccount

    counts = {"brand_accounts": 0, "members": 0, "team_webhooks": 0}
    for account in session.scalars(
        select(BrandAccount).where(BrandAccount.credentials_encrypted.is_not(None))
    ):
        assert account.credentials_encrypted is not None
        account.credentials_encrypted = rotate(account.credentials_encrypted)
        counts["brand_accounts"] += 1
    for member in session.scalars(select(Member).where(Member.totp_secret_encrypted.is_not(None))):
        assert member.totp_secret_encrypted is not None
        member.totp_secret_encrypted = rotate(member.totp_secret_encrypted)
        counts["members"] += 1
    for team in session.scalars(select(Team).where(Team.webhook_url_encrypted.is_not(None))):
        assert team.webhook_url_encrypted is not None
        team.webhook_url_encrypted = rotate(team.webhook_url_encrypted)
        counts["team_webhooks"] += 1
    for org_id in session.scalars(select(Organization.id)):
        audit.record(
            session, organization_id=org_id, action="keys_rotated", actor=None, after=counts
        )
    return counts
