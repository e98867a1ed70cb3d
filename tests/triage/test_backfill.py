"""The triage backfill: imported history gets what live ingest would have given it.

History is stored through the batch ingest path (no triage, as an import does); every test runs
on SQLite and PostgreSQL. Expected labels are read from the stored rows, not written here, so the
tests hold whatever the models say; where a test needs the models to tell two texts apart it
says so first.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.cli import main
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors.base import Identity, InboundMessage
from socialdesk.contacts import service as contacts_service
from socialdesk.conversations.bulk import BulkIngest, BulkItem
from socialdesk.conversations.models import Activity, Conversation, Message, Priority
from socialdesk.db.session import session_scope
from socialdesk.events.models import EventRecord
from socialdesk.importers.cli import import_
from socialdesk.triage import backfill
from socialdesk.triage import service as triage_service
from socialdesk.triage.classify import TriageResult, artifact_path
from socialdesk.triage.jobs import BACKFILL_JOB, enqueue_backfill
from socialdesk.triage.models import MessageTriage
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

pytestmark = pytest.mark.skipif(
    not artifact_path("default").is_file(), reason="the default triage model is not built"
)

COMPLAINT = "my order never arrived, still no refund, awful service, nobody answers"
PRAISE = "thank you so much, all sorted now, brilliant help"


def _history(session: Session, account: BrandAccount, messages: Sequence[InboundMessage]) -> None:
    """Store messages as an import does: one batch, committed."""
    BulkIngest(organization_id=account.organization_id).ingest(
        session, [BulkItem(account.id, m) for m in messages]
    )
    session.commit()


def _rows(session: Session) -> dict[int, MessageTriage]:
    # Fresh values, without expiring the test's other objects (reading an expired one would
    # open a write transaction that the backfill's writer then waits for, on SQLite).
    fresh = select(MessageTriage).execution_options(populate_existing=True)
    return {r.message_id: r for r in session.scalars(fresh)}


def _message_id(session: Session, native_id: str) -> int:
    return session.scalars(select(Message.id).where(Message.native_id == native_id)).one()


def _event_kinds(session: Session, *, after: int = 0) -> list[str]:
    return list(
        session.scalars(
            select(EventRecord.kind).where(EventRecord.id > after).order_by(EventRecord.id)
        )
    )


def _last_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(EventRecord.id))) or 0)


# One message per batch, and all in one batch (where the latest message comes first).
@pytest.mark.parametrize("batch_size", [1, 10])
def test_imported_history_is_triaged_and_conversations_rolled_up(
    session: Session, clock: FrozenClock, jobs: JobRunner, batch_size: int
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    start = clock.now() - timedelta(days=400)
    first = inbound(native_id="c1", author="ann", text=COMPLAINT, at=start)
    reply = inbound(
        native_id="b2",
        author="brand",
        text="sorry, please DM us",
        reply_to="c1",
        at=start + timedelta(minutes=5),
        from_brand=True,
    )
    latest = inbound(
        native_id="c3", author="ann", text=PRAISE, reply_to="b2", at=start + timedelta(hours=1)
    )
    blank = inbound(native_id="c4", author="bob", text="  \n ", at=start)
    other = inbound(native_id="c5", author="cat", text=COMPLAINT, at=start + timedelta(minutes=1))
    # The latest message is stored first, so it has the lowest id: the backfill meets it before
    # the older message of its conversation and must not let the older one win.
    _history(session, account, [latest])
    _history(session, account, [first, reply, blank, other])
    session.expire_all()
    thread = session.get_one(
        Conversation,
        session.scalars(select(Message.conversation_id).where(Message.native_id == "c1")).one(),
    )
    assert thread.message_count == 3  # the two batches joined into one thread
    activity_before = thread.last_activity_at
    status_before = thread.status
    assert backfill.count_untriaged(session, organization_id=org.id) == 3  # the blank one is not
    events_before = _last_event_id(session)
    jobs.run_pending()

    totals = backfill.run(organization_id=org.id, batch_size=batch_size)

    rows = _rows(session)
    ids = {n: _message_id(session, n) for n in ("c1", "b2", "c3", "c4", "c5")}
    assert set(rows) == {ids["c1"], ids["c3"], ids["c5"]}  # no brand reply, no blank text
    assert (totals.triaged, totals.batches, totals.already) == (3, 3 if batch_size == 1 else 1, 0)
    old, new = rows[ids["c1"]], rows[ids["c3"]]
    # The models tell the two texts apart (else this test would prove little).
    assert old.complaint
    assert old.sentiment != new.sentiment
    session.refresh(thread)
    assert (thread.sentiment, thread.intent, thread.language) == (
        new.sentiment,
        new.intent,
        new.language,
    )
    assert thread.is_complaint  # the older message was one
    level = max(triage_service.PRIORITY_LEVEL[r.priority] for r in (old, new))
    assert thread.priority == max(level, Priority.NORMAL)
    # History stays history: no fresh activity, no status change, no per-conversation events,
    # and nothing for the listeners (routing, SLA, follow-ups) to do.
    assert thread.last_activity_at == activity_before
    assert thread.status == status_before
    assert set(_event_kinds(session, after=events_before)) == {backfill.TriageBackfilled.kind}
    assert jobs.queue.pending_count() == 0
    raised = session.scalars(
        select(Activity).where(Activity.conversation_id == thread.id, Activity.kind == "triaged")
    ).all()
    assert len(raised) == (1 if thread.priority > Priority.NORMAL else 0)
    assert all(a.data["backfill"] is True for a in raised)


def test_a_rerun_adds_nothing(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    _history(
        session,
        account,
        [
            inbound(native_id=f"m{i}", author=f"a{i % 3}", text=t)
            for i, t in enumerate([COMPLAINT, PRAISE, "where is my parcel?", COMPLAINT, PRAISE])
        ],
    )
    first = backfill.run(organization_id=org.id, batch_size=2)
    assert first.triaged == 5
    rows = {k: (v.sentiment, v.priority, v.created_at) for k, v in _rows(session).items()}
    conversations = sorted(
        session.execute(
            select(
                Conversation.id,
                Conversation.sentiment,
                Conversation.priority,
                Conversation.is_complaint,
            )
        )
    )
    events = _last_event_id(session)

    again = backfill.run(organization_id=org.id, batch_size=2)

    assert (again.scanned, again.triaged, again.batches) == (0, 0, 0)
    assert {k: (v.sentiment, v.priority, v.created_at) for k, v in _rows(session).items()} == rows
    assert (
        sorted(
            session.execute(
                select(
                    Conversation.id,
                    Conversation.sentiment,
                    Conversation.priority,
                    Conversation.is_complaint,
                )
            )
        )
        == conversations
    )
    assert _last_event_id(session) == events
    assert backfill.count_untriaged(session, organization_id=org.id) == 0


def test_a_message_triaged_live_in_between_is_not_duplicated(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    _history(
        session,
        account,
        [inbound(native_id=f"m{i}", author=f"a{i}", text=COMPLAINT) for i in range(4)],
    )
    live_id = _message_id(session, "m2")
    session.commit()  # the test's session holds no write lock while the backfill runs
    classify = backfill.classify_pending

    def triaged_meanwhile(pending: Sequence[backfill.Pending]) -> list[TriageResult | None]:
        # Between the backfill's read and its write, live triage stores a row for one of the
        # batch's messages and commits.
        if any(p.id == live_id for p in pending):
            with session_scope() as other:
                message = other.get_one(Message, live_id)
                conversation = other.get_one(Conversation, message.conversation_id)
                assert triage_service.triage_message(
                    other, message=message, conversation=conversation
                )
            clock.advance(timedelta(minutes=1))
        return classify(pending)

    monkeypatch.setattr(backfill, "classify_pending", triaged_meanwhile)
    live_time = clock.now()

    totals = backfill.run(organization_id=org.id, batch_size=4)

    assert (totals.scanned, totals.triaged, totals.already) == (4, 3, 1)
    rows = _rows(session)
    assert len(rows) == 4
    assert rows[live_id].created_at == live_time  # the live row stands
    assert all(r.created_at > live_time for i, r in rows.items() if i != live_id)
    assert session.scalar(
        select(func.count()).select_from(Activity).where(Activity.kind == "triaged")
    ) == len({r.message_id for r in rows.values() if r.priority in ("high", "urgent")})


def test_backfill_gives_what_live_ingest_gives(session: Session, clock: FrozenClock) -> None:
    """The same messages triaged live and then again by the backfill: the same rows (context
    included: VIP, repeated contacts, the message's own time) and the same conversations."""
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    vip, _ = contacts_service.find_or_create(
        session,
        organization_id=org.id,
        channel=account.kind,
        identity=Identity(native_id="vip", handle="@vip", display_name="Vip"),
    )
    vip.is_vip = True
    start = clock.now() - timedelta(days=3)
    texts = [
        COMPLAINT,
        "still nothing, this is the third time I write",
        PRAISE,
        "where can I find my invoice?",
        "the app crashed and I lost my booking",
    ]
    for i, text in enumerate(texts):
        for author in ("vip", "plain"):
            ingest(
                session,
                account,
                inbound(
                    native_id=f"{author}{i}",
                    author=author,
                    text=text,
                    thread_key=f"{author}-{i % 2}",
                    at=start + timedelta(hours=2 * i),
                ),
            )
    session.commit()
    fields = (
        "sentiment",
        "complaint",
        "intent",
        "priority",
        "language",
        "scores",
        "reasons",
        "tier",
    )
    live = {k: tuple(getattr(r, f) for f in fields) for k, r in _rows(session).items()}
    columns = (
        Conversation.id,
        Conversation.sentiment,
        Conversation.intent,
        Conversation.language,
        Conversation.is_complaint,
        Conversation.priority,
    )
    live_conversations = sorted(session.execute(select(*columns)).all())
    assert (len(live), len(live_conversations)) == (10, 4)
    session.execute(delete(MessageTriage))
    session.execute(
        update(Conversation).values(
            sentiment=None,
            intent=None,
            language=None,
            is_complaint=False,
            priority=Priority.NORMAL.value,
        )
    )
    session.commit()

    backfill.run(organization_id=org.id, batch_size=3)

    again = {k: tuple(getattr(r, f) for f in fields) for k, r in _rows(session).items()}
    assert again == live
    assert sorted(session.execute(select(*columns)).all()) == live_conversations


def test_the_job_runs_one_batch_at_a_time_until_done(session: Session, jobs: JobRunner) -> None:
    org = accounts.organization(session)
    other_org = accounts.organization(session)
    account = channels.brand_account(session, org)
    other_account = channels.brand_account(session, other_org)
    _history(session, account, [inbound(native_id=f"m{i}", author=f"a{i}") for i in range(5)])
    _history(session, other_account, [inbound(native_id="x1", author="z")])
    jobs.run_pending()
    events = _last_event_id(session)

    enqueue_backfill(organization_id=org.id, batch_size=2)
    ran = jobs.run_pending()

    assert ran == 3  # batches of 2, 2 and 1, each job enqueuing the next; nothing else
    rows = _rows(session)
    assert {r.organization_id for r in rows.values()} == {org.id}
    assert len(rows) == 5
    assert _event_kinds(session, after=events) == [backfill.TriageBackfilled.kind] * 3
    assert backfill.count_untriaged(session, organization_id=other_org.id) == 1
    enqueue_backfill(organization_id=org.id, batch_size=2)
    assert jobs.run_pending() == 1  # nothing left: one look and done
    assert len(_rows(session)) == 5


TWCS_ROWS = [
    (
        "tweet_id",
        "author_id",
        "inbound",
        "created_at",
        "text",
        "response_tweet_id",
        "in_response_to_tweet_id",
    ),
    ("1", "115", "True", "Tue Oct 31 22:10:47 +0000 2017", f"@AcmeHelp {COMPLAINT}", "2", ""),
    ("2", "AcmeHelp", "False", "Tue Oct 31 22:12:47 +0000 2017", "@115 sorry, DM us", "3", "1"),
    ("3", "115", "True", "Tue Oct 31 22:14:47 +0000 2017", f"@AcmeHelp {PRAISE}", "", "2"),
    ("4", "116", "True", "Tue Oct 31 22:15:47 +0000 2017", "@AcmeHelp where is it?", "", ""),
]


def _queued(jobs: JobRunner) -> list[str]:
    return [task.args[0] for task in jobs.huey.pending()]


def test_the_import_command_queues_the_backfill(
    session: Session, jobs: JobRunner, tmp_path: Path
) -> None:
    org = accounts.organization(session)
    session.commit()
    path = tmp_path / "acme.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(TWCS_ROWS)

    first = CliRunner().invoke(import_, ["twcs", str(path), "--org", org.slug])

    assert first.exit_code == 0, first.output
    assert f"queued {BACKFILL_JOB}" in first.stdout
    assert f"--organization {org.slug}" in first.stdout
    assert _queued(jobs) == [BACKFILL_JOB]
    assert _rows(session) == {}
    jobs.run_pending()
    rows = _rows(session)
    assert len(rows) == 3  # the three customer tweets
    thread = session.scalars(select(Conversation).where(Conversation.message_count == 3)).one()
    latest = rows[_message_id(session, "3")]
    assert (thread.sentiment, thread.intent) == (latest.sentiment, latest.intent)
    assert thread.is_complaint == any(rows[_message_id(session, n)].complaint for n in ("1", "3"))
    session.commit()

    again = CliRunner().invoke(import_, ["twcs", str(path), "--org", org.slug])

    assert again.exit_code == 0, again.output
    assert "0 messages added" in again.stdout
    assert BACKFILL_JOB not in again.stdout
    assert _queued(jobs) == []


def test_the_backfill_command_runs_inline(session: Session, jobs: JobRunner) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    _history(session, account, [inbound(native_id=f"m{i}", author=f"a{i}") for i in range(3)])
    jobs.run_pending()

    result = CliRunner().invoke(
        main, ["triage", "backfill", "--organization", org.slug, "--batch-size", "2"]
    )

    assert result.exit_code == 0, result.output
    assert "3 inbound messages without triage" in result.stderr
    assert "triaged 3 messages in 2 batches" in result.stdout
    assert len(_rows(session)) == 3
    assert jobs.queue.pending_count() == 0  # inline: nothing left to the worker
    unknown = CliRunner().invoke(main, ["triage", "backfill", "--organization", "nope"])
    assert unknown.exit_code != 0
    assert "no organization with slug 'nope'" in unknown.output


def test_batch_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="batch size"):
        backfill.run_batch(organization_id=None, batch_size=0)
    result = CliRunner().invoke(
        main, ["triage", "backfill", "--batch-size", str(backfill.MAX_BATCH_SIZE + 1)]
    )
    assert result.exit_code == 2


def test_a_second_import_joins_the_backfill_already_under_way(
    session: Session, jobs: JobRunner, tmp_path: Path
) -> None:
    org = accounts.organization(session)
    session.commit()
    first_file, second_file = tmp_path / "first.csv", tmp_path / "second.csv"
    with first_file.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(TWCS_ROWS)
    rekeyed = [TWCS_ROWS[0]] + [
        (
            f"1{row[0]}",
            row[1],
            row[2],
            row[3],
            row[4],
            row[5] and f"1{row[5]}",
            row[6] and f"1{row[6]}",
        )
        for row in TWCS_ROWS[1:]
    ]
    with second_file.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rekeyed)

    first = CliRunner().invoke(import_, ["twcs", str(first_file), "--org", org.slug])
    second = CliRunner().invoke(import_, ["twcs", str(second_file), "--org", org.slug])

    assert f"queued {BACKFILL_JOB}" in first.stdout
    assert f"the {BACKFILL_JOB} already under way" in second.stdout
    assert _queued(jobs) == [BACKFILL_JOB]  # one chain, not two
    jobs.run_pending()
    assert len(_rows(session)) == 6  # both files' customer tweets
