"""Settings: one object, read from the environment (prefix ``SOCIALDESK_``) or a ``.env`` file."""

from __future__ import annotations

import base64
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the known dev value that production refuses


class Settings(BaseSettings):
    """Every setting socialdesk reads. Each is documented in docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="SOCIALDESK_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "production"] = Field(
        default="dev", description="dev and test allow generated secrets; production refuses them."
    )
    var_dir: Path = Field(
        default=Path("var"), description="Where the embedded database and job queue live."
    )
    database_url: str = Field(
        default="", description="SQLAlchemy URL. Empty: SQLite at VAR_DIR/socialdesk.db."
    )
    secret_key: str = Field(
        default=DEV_SECRET, description="Signs sessions and visitor tokens. Required in production."
    )
    encryption_keys: str = Field(
        default="",
        description=(
            "Comma-separated Fernet keys for credentials at rest; the first encrypts, all decrypt. "
            "Empty in dev: a key is generated once under VAR_DIR."
        ),
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public address of the desk."
    )
    jobs_backend: Literal["sqlite", "redis", "memory"] = Field(
        default="sqlite",
        description="sqlite needs no server; redis serves several workers and hosts.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Used when jobs_backend=redis."
    )
    realtime_poll_seconds: float = Field(
        default=0.5, description="How often each process reads new events for live updates."
    )
    reopen_quiet_period_hours: float = Field(
        default=72.0,
        description=(
            "A customer message on a conversation resolved longer ago than this starts a new "
            "conversation instead of reopening it."
        ),
    )
    raw_event_days: int = Field(
        default=30,
        ge=0,
        description=(
            "Days a processed (or ignored) inbound event's raw payload is kept after it "
            "arrived; 0 keeps them all."
        ),
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description=(
            "The largest file a message may carry into the desk (an email's attachment); a "
            "larger one is listed with its name and size but not kept. 0 keeps none."
        ),
    )
    session_days: int = Field(default=14, description="How long a login lasts.")
    login_max_failures: int = Field(
        default=5, description="Consecutive failed logins that lock a member's account."
    )
    login_lockout_minutes: int = Field(
        default=15, description="How long a locked account stays locked."
    )
    login_attempts_per_address: int = Field(
        default=30,
        description=(
            "Failed login attempts accepted from one network address per 15 minutes, whatever "
            "the account; logins that succeed do not count (0: no limit)."
        ),
    )
    invitation_days: int = Field(default=7, description="How long an invitation link is valid.")
    chat_messages_per_address: int = Field(
        default=30,
        description=(
            "Messages the website chat accepts per minute from one network address, all its "
            "visitors together (0: no limit)."
        ),
    )
    password_reset_minutes: int = Field(
        default=60, description="How long a password reset link is valid."
    )
    delivery_max_attempts: int = Field(
        default=5, description="Send attempts before a reply is failed."
    )
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure (set behind HTTPS)."
    )
    mail_url: str = Field(
        default="",
        description=(
            "Where the desk sends its own mail (notifications, reminders): "
            "smtp://user:password@host:port, smtps://... for TLS from the start, "
            "?starttls=1 to upgrade. Empty: no email, notifications stay in the desk."
        ),
    )
    mail_from: str = Field(
        default="socialdesk@localhost", description="Sender address of the desk's own mail."
    )
    oidc_issuer: str = Field(
        default="",
        description="OpenID Connect provider for single sign-on. Empty: SSO is off.",
    )
    oidc_client_id: str = Field(
        default="", description="The desk's client id at the OpenID Connect provider."
    )
    oidc_client_secret: str = Field(
        default="", description="The desk's client secret there (empty for a public client)."
    )
    oidc_provider_name: str = Field(
        default="", description="The provider's name on the login page's sign-in link."
    )
    oidc_allow_signup: bool = Field(
        default=False,
        description="Let an unknown but verified email join the only organization as a viewer.",
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.env == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "SOCIALDESK_SECRET_KEY must be set to at least 32 random characters "
                    "in production"
                )
            if not self.encryption_keys:
                raise ValueError(
                    "SOCIALDESK_ENCRYPTION_KEYS must be set in production "
                    "(generate one with: socialdesk keys generate)"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'socialdesk.db').resolve()}"

    def fernet_keys(self) -> list[bytes]:
        """The configured keys, or in dev/test a key generated once and kept under var_dir."""
        if self.encryption_keys:
            return [k.strip().encode() for k in self.encryption_keys.split(",") if k.strip()]
        key_file = self.var_dir / "encryption.key"
        if not key_file.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(32)))
            key_file.chmod(0o600)
        return [key_file.read_bytes().strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
