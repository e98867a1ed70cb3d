"""Moving time for a live desk (tests/browser/server.py) and what its browser tests share.

The desk's server and worker run in their own processes on the wall clock, as `socialdesk
serve` runs them. What depends on time passing (a promise's reminder, a follow-up a day after
the resolution) is the work of periodic tasks; a test runs the real registered task in this
process, against the live desk's database and job queue, under a FrozenClock set to the moment
it wants. The jobs that task enqueues (a delivery, say) go to the live desk's queue, where its
worker runs them; the events it emits are recorded in the database, so open desks hear them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock, use_clock
from socialdesk.jobs import registry
from tests.browser.server import LiveDesk, live_desk
from tests.conftest import reset_caches
from tests.factories.conversations import inbound, ingest

PASSWORD = "correct horse battery staple"


def add_members(
    session: Session, organization_id: int, people: Iterable[tuple[str, str, Role]]
) -> dict[str, Member]:
    """The browser tests' people, ``(email, name, role)`` each, all with :data:`PASSWORD`;
    returned by name."""
    return {
        name: accounts_service.create_member(
            session,
            organization_id=organization_id,
            email=email,
            name=name,
            role=role,
            password=PASSWORD,
        )
        for email, name, role in people
    }


def add_website(
    session: Session, organization_id: int, display_name: str | None = None
) -> BrandAccount:
    """The website chat channel the browser tests' visitors write on."""
    return channels_service.create(
        session,
        organization_id=organization_id,
        kind="web",
        handle="website",
        display_name=display_name,
    )


@contextmanager
def one_question(
    tmp_path: Path,
    people: Iterable[tuple[str, str, Role]],
    *,
    prepare: Callable[[Session, int], None] | None = None,
) -> Iterator[tuple[LiveDesk, int]]:
    """A live desk of one organization with ``people`` and one visitor's question on its
    website; ``prepare(session, organization_id)`` adds more before it starts. Yields the desk
    and the question's conversation id."""
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(
                session, name="Kestrel Valley Transit", timezone="Europe/Amsterdam"
            )
            add_members(session, org.id, people)
            web = add_website(session, org.id, "Kestrel Valley website")
            conversation = ingest(
                session,
                web,
                inbound(text="Is tram 4 running?", author="lucia", thread_key="visitor:lucia"),
            ).conversation
            if prepare is not None:
                prepare(session, org.id)
            session.commit()
            conversation_id = conversation.id
        yield live, conversation_id


@contextmanager
def in_desk_process(live: LiveDesk, tmp: Path) -> Iterator[None]:
    """Point this process's settings at the live desk started by ``live_desk(tmp)``: its
    database and its durable job queue (``tmp / "var"``, as server.py sets it)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOCIALDESK_DATABASE_URL", live.database_url)
        env.setenv("SOCIALDESK_VAR_DIR", str(tmp / "var"))
        env.setenv("SOCIALDESK_JOBS_BACKEND", "sqlite")
        reset_caches()
        # The listeners and jobs the worker knows, so what the task emits and enqueues is
        # handled as it would be in the worker.
        from socialdesk.jobs import catalog  # noqa: F401 - imported for its registrations

        try:
            yield
        finally:
            reset_caches()


def run_periodic(name: str, *, at: datetime) -> None:
    """Run the registered periodic task ``name`` once, as the worker's minute would, with
    the clock at ``at``. Call inside :func:`in_desk_process`."""
    specs = {spec.name: spec for spec in registry.all_periodic()}
    if name not in specs:
        raise AssertionError(f"no periodic task named {name!r}; known: {sorted(specs)}")
    with use_clock(FrozenClock(at)):
        specs[name].handler()
