"""``socialdesk import``: load history from files. Mounted on the main CLI as ``import``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.importers.twcs import DEFAULT_BATCH_SIZE


def resolve_organization(session: Session, slug: str | None) -> Organization:
    """The organization named by ``slug``, or the only one there is."""
    if slug:
        org = session.scalar(select(Organization).where(Organization.slug == slug))
        if org is None:
            known = ", ".join(
                session.scalars(select(Organization.slug).order_by(Organization.slug))
            )
            raise click.ClickException(
                f"no organization with slug {slug!r}" + (f"; there are: {known}" if known else "")
            )
        return org
    orgs = list(session.scalars(select(Organization).order_by(Organization.slug).limit(11)))
    if not orgs:
        raise click.ClickException(
            "the database has no organization yet: start the desk once (socialdesk serve) "
            "to create the first one"
        )
    if len(orgs) > 1:
        listed = ", ".join(o.slug for o in orgs[:10]) + (", ..." if len(orgs) > 10 else "")
        raise click.ClickException(
            f"there are several organizations ({listed}): choose one with --org SLUG"
        )
    return orgs[0]


@click.group("import")
def import_() -> None:
    """Load conversation history from files."""


@import_.command("twcs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option(
    "--brand",
    metavar="HANDLE",
    help="Import only this brand's threads, and attach to it the customer tweets whose brand "
    "cannot be told from their thread or @mentions.",
)
@click.option("--org", "org_slug", metavar="SLUG", help="The organization (default: the only one).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per transaction.",
)
def twcs(file: Path, brand: str | None, org_slug: str | None, batch_size: int) -> None:
    """Import a "Customer Support on Twitter" CSV file (tweet_id, author_id, inbound,
    created_at, text, response_tweet_id, in_response_to_tweet_id).

    Brands become X brand accounts and their tweets sent replies; customers become contacts;
    threads follow the reply ids and keep their original times. Rows that cannot be imported
    are reported as FILE:LINE: REASON on stderr; the exit status is 1 when there were any.
    Running the same import again adds nothing. When messages were added, their triage is
    queued for the worker (the triage.backfill job)."""
    from socialdesk.common.errors import DomainError
    from socialdesk.db.session import get_sessionmaker
    from socialdesk.importers.twcs import Problem, TwcsFormatError, import_file

    sessions = get_sessionmaker(write=True)
    with sessions() as session:
        org = resolve_organization(session, org_slug)
        organization_id, org_name, slug = org.id, org.name, org.slug

    def show(problem: Problem) -> None:
        click.echo(f"{file}:{problem.line}: {problem.reason}", err=True)

    started = time.perf_counter()
    try:
        report = import_file(
            file,
            session_factory=sessions,
            organization_id=organization_id,
            brand=brand,
            batch_size=batch_size,
            on_problem=show,
        )
    except TwcsFormatError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    except (DomainError, ValueError) as exc:
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc
    elapsed = time.perf_counter() - started
    result = report.ingest
    click.echo(
        f"{file}: {report.rows} rows into {org_name}: {result.created} messages added "
        f"({result.duplicates} already there"
        + (f", {result.erased} erased with their customer before" if result.erased else "")
        + f"), {result.conversations_created} conversations "
        f"created, {result.conversations_changed} extended, {result.contacts_created} contacts "
        f"created, {len(report.accounts_created)} brand accounts created; "
        f"{report.bad} bad rows, {report.unattached} without a brand account"
        + (f", {report.other_brand} of other brands left out" if brand else "")
        + f" ({elapsed:.1f} s)"
    )
    if result.created:
        # Imported history is stored without triage (no per-message reactions); the worker
        # triages it afterwards, batch by batch.
        from socialdesk.triage.jobs import BACKFILL_JOB, enqueue_backfill

        started = enqueue_backfill(organization_id=organization_id)
        what = (
            f"queued {BACKFILL_JOB} to triage the imported messages"
            if started
            else f"the {BACKFILL_JOB} already under way will triage the imported messages too"
        )
        click.echo(
            f"{what}: a running worker (socialdesk worker) does it in the background; or run "
            f"it here with socialdesk triage backfill --organization {slug}"
        )
    if report.failed:
        sys.exit(1)
