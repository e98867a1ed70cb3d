"""The command line, grouped by noun: serve, worker, db, users, keys, import, demo..."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from socialdesk.config import get_settings


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """socialdesk: one shared desk for customer care on social media, email and the web."""
    _setup_logging(verbose)


# -- db -----------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the database to REVISION (default: the newest)."""
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import get_engine

    upgrade(get_engine(), revision)
    click.echo(f"database at {revision}: {_safe_url()}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ("base" removes everything)."""
    from socialdesk.db.migrate import downgrade
    from socialdesk.db.session import get_engine

    downgrade(get_engine(), revision)
    click.echo(f"database at {revision}")


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from socialdesk.db.migrate import current
    from socialdesk.db.session import get_engine

    click.echo(current(get_engine()) or "empty")


@db.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("backups"))
def db_backup(folder: Path) -> None:
    """Copy the embedded SQLite database (and job queue) into FOLDER while the desk runs.

    Each copy is consistent (SQLite's online backup), checked, and named with the UTC time
    (socialdesk-20260105T093000Z.db). PostgreSQL is backed up with pg_dump instead. Keep the
    encryption keys, which the copies need, apart from them.
    """
    from socialdesk.db.backup import BackupError, backup

    settings = get_settings()
    try:
        copied = backup(settings, folder)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    for item in copied:
        click.echo(f"{item.target} ({item.size:,} bytes, integrity ok)")
    if settings.jobs_backend == "sqlite" and len(copied) == 1:
        click.echo(f"No job queue file at {settings.var_dir / 'jobs.db'}: no jobs to keep.")
    if settings.encryption_keys:
        click.echo("The copies need the keys in SOCIALDESK_ENCRYPTION_KEYS: keep them apart.")
    else:
        key = settings.var_dir / "encryption.key"
        click.echo(f"The copies need the encryption key too: keep {key} safe, apart from them.")


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().effective_database_url).render_as_string(hide_password=True)


def _migrate_and_bootstrap(login_url: str) -> None:
    from socialdesk.accounts import service as accounts_service
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import get_engine, session_scope

    upgrade(get_engine())
    with session_scope() as session:
        created = accounts_service.bootstrap_if_empty(session)
        if created is not None:
            from socialdesk.channels import service as channels_service

            channels_service.create(
                session,
                organization_id=created.organization.id,
                kind="web",
                handle="website",
                display_name="Website chat",
            )
    if created is not None:
        click.echo(
            "\n  First start: created the organization and its owner.\n"
            f"  Log in at {login_url}\n"
            f"    email:    {created.owner.email}\n"
            f"    password: {created.password}\n"
            "  (shown once; change it after logging in)\n"
        )


# -- serve & worker -----------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--worker/--no-worker", default=True, show_default=True, help="Also run a job worker."
)
def serve(host: str, port: int, worker: bool) -> None:
    """Migrate, create the first owner on an empty database, and serve the desk."""
    import uvicorn

    _migrate_and_bootstrap(f"http://{host}:{port}/login")
    child: subprocess.Popen[bytes] | None = None
    if worker:
        child = subprocess.Popen([sys.executable, "-m", "socialdesk", "worker"])
    try:
        uvicorn.run(
            "socialdesk.app:create_app", factory=True, host=host, port=port, log_level="info"
        )
    finally:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


@main.command()
@click.option("--workers", default=2, show_default=True, type=int, help="Worker threads.")
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Also start the periodic tasks (timers, recoveries) on their schedule; with "
    "--no-periodic this worker only runs queued jobs and leaves them to other workers.",
)
def worker(workers: int, periodic: bool) -> None:
    """Run background jobs: ingest, delivery, timers. Run several for more throughput; with
    SOCIALDESK_JOBS_BACKEND=redis they may run on several machines."""
    from socialdesk.jobs.queue import get_queue

    queue = get_queue()
    settings = get_settings()
    click.echo(f"worker: {workers} threads on the {settings.jobs_backend} queue")
    stale = queue.clear_periodic_locks()
    if stale:
        click.echo(f"worker: cleared locks left by a stopped worker: {', '.join(stale)}")
    from socialdesk.channels import jobs as channels_jobs

    # Mailboxes whose server offers IMAP IDLE are watched at once, not after the first minute.
    watching = channels_jobs.ensure_idle_watchers()
    if watching:
        click.echo(f"worker: watching {len(watching)} mailbox(es) with IMAP IDLE")
    # Mastodon accounts are followed over the streaming API at once; a thread of this process
    # renews their leases every minute (not a periodic task: those run in one process at a time).
    streaming = channels_jobs.start_stream_watchers()
    if streaming:
        click.echo(f"worker: following {len(streaming)} Mastodon account(s) by streaming")
    # max_delay: an idle worker checks for new jobs at least every second, so a reply written
    # after a quiet spell is not held back by the consumer's polling backoff.
    consumer: Any = queue.huey.create_consumer(
        workers=workers, worker_type="thread", periodic=periodic, max_delay=1.0
    )
    consumer.run()


# -- users & keys -------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Members of an organization."""


@users.command("create")
@click.option("--org", "org_slug", required=True, help="The organization's slug.")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(["owner", "admin", "approver", "agent", "viewer"]),
    default="agent",
    show_default=True,
)
@click.password_option()
def users_create(org_slug: str, email: str, name: str, role: str, password: str) -> None:
    """Add a member who can log in with a password."""
    from sqlalchemy import select

    from socialdesk.accounts import service as accounts_service
    from socialdesk.accounts.models import Organization, Role
    from socialdesk.common.errors import DomainError
    from socialdesk.db.session import session_scope

    try:
        with session_scope() as session:
            org = session.scalar(select(Organization).where(Organization.slug == org_slug))
            if org is None:
                raise click.ClickException(f"no organization with slug {org_slug!r}")
            member = accounts_service.create_member(
                session,
                organization_id=org.id,
                email=email,
                name=name,
                role=Role(role),
                password=password,
            )
            click.echo(f"created {member.email} ({member.role}) in {org.name}")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["read", "reply", "manage", "approve", "admin"]),
    help="Narrow the token (repeatable); none: everything the member's role allows.",
)
def users_token(email: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API token for a member and print it (shown once; only its hash is kept)."""
    from sqlalchemy import select

    from socialdesk.accounts import service as accounts_service
    from socialdesk.accounts.models import Member
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        member = session.scalar(select(Member).where(Member.email == email.strip().lower()))
        if member is None or not member.is_active:
            raise click.ClickException(f"no active member with email {email}")
        created = accounts_service.create_api_token(
            session, member=member, name=name, scopes=list(scopes)
        )
        click.echo(created.token)


@main.group()
def keys() -> None:
    """Encryption keys for credentials at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key for SOCIALDESK_ENCRYPTION_KEYS."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret (channel credentials, two-factor secrets) under the first
    key of SOCIALDESK_ENCRYPTION_KEYS. Put the new key first, keep the old one after it,
    rotate, then remove the old key."""
    from socialdesk.common.crypto import rotate_all
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        counts = rotate_all(session)
    click.echo(
        f"re-encrypted the credentials of {counts['brand_accounts']} brand accounts and the "
        f"two-factor secrets of {counts['members']} members"
    )


@click.command("export-corrections")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--org", "org_slug", default=None, help="Only this organization's corrections.")
def triage_export_corrections(file: str, org_slug: str | None) -> None:
    """Write agents' label corrections as JSONL for `triage train --with-corrections FILE`."""
    from pathlib import Path

    from sqlalchemy import select

    from socialdesk.accounts.models import Organization
    from socialdesk.db.session import session_scope
    from socialdesk.triage import service as triage_service

    with session_scope(write=False) as session:
        org_id = None
        if org_slug is not None:
            org_id = session.scalar(select(Organization.id).where(Organization.slug == org_slug))
            if org_id is None:
                raise click.ClickException(f"no organization with slug {org_slug!r}")
        lines = list(triage_service.corrections_jsonl(session, organization_id=org_id))
    Path(file).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    click.echo(f"wrote {len(lines)} corrections to {file}")


def _mount_domain_commands() -> None:
    """Each domain keeps its own commands beside its code; the CLI gathers them here."""
    from socialdesk.commitments.cli import commitments
    from socialdesk.demo.cli import demo
    from socialdesk.importers.cli import import_
    from socialdesk.policy import cli as policy_cli
    from socialdesk.triage.cli import triage

    main.add_command(commitments)
    main.add_command(demo)
    main.add_command(import_)
    main.add_command(triage)
    triage.add_command(triage_export_corrections)
    main.add_command(policy_cli.policy)
    main.add_command(policy_cli.text_group)


_mount_domain_commands()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
