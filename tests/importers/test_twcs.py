"""The twcs importer, on the real corpus files in ../shared/data/twcs and on handcrafted ones.

Expectations are computed here from the CSV with the standard library, independently of the
importer's own reader. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import gc
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.contacts import privacy
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations.models import Conversation, Message, Status
from socialdesk.db.session import get_sessionmaker
from socialdesk.importers import twcs
from socialdesk.importers.cli import import_
from socialdesk.importers.twcs import (
    ImportReport,
    Problem,
    Tweet,
    format_time,
    import_file,
    parse_time,
    raw_payload,
)
from tests.factories import accounts

HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"


def _id(value: str) -> str:
    return value.split(".", maxsplit=1)[0].strip()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _threads(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Connected components of the file's reply graph (both columns, absent tweets included)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for r in rows:
        find(r["tweet_id"])
        links = [_id(r["in_response_to_tweet_id"])] if r["in_response_to_tweet_id"] else []
        links += [_id(x) for x in r["response_tweet_id"].split(",") if x.strip()]
        for link in links:
            a, b = find(r["tweet_id"]), find(link)
            if a != b:
                parent[a] = b
    groups: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault(find(r["tweet_id"]), []).append(r)
    return list(groups.values())


def _org(session: Session) -> Organization:
    org = accounts.organization(session)
    session.commit()
    return org


def _import(path: Path, org: Organization, **options: object) -> tuple[ImportReport, list[Problem]]:
    problems: list[Problem] = []
    report = import_file(
        path,
        session_factory=get_sessionmaker(),
        organization_id=org.id,
        on_problem=problems.append,
        **options,  # type: ignore[arg-type]
    )
    return report, problems


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def twcs_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "twcs"
    if not (path / "sample_threads.csv").is_file():
        pytest.skip(f"the twcs corpus files are not in {path}")
    return path


# -- reading ------------------------------------------------------------------------------


def test_parse_time_reads_the_corpus_format() -> None:
    assert parse_time("Tue Oct 31 22:10:47 +0000 2017") == datetime(
        2017, 10, 31, 22, 10, 47, tzinfo=UTC
    )
    assert parse_time("Wed Nov 01 00:30:00 +0130 2017") == datetime(2017, 10, 31, 23, 0, tzinfo=UTC)
    for bad in (
        "",
        "2017-10-31 22:10:47",
        "Tue Foo 31 22:10:47 +0000 2017",
        "Tue Feb 30 1:2:3 +0000 2017",
    ):
        with pytest.raises(ValueError, match="created_at"):
            parse_time(bad)


def test_raw_payload_is_what_json_dumps_writes() -> None:
    when = datetime(2017, 10, 31, tzinfo=UTC)
    for responses in ((), ("12",), ("12", "345", "6789"), ("\u0661\u0662",)):
        tweet = Tweet(1, "1", "a", True, when, "t", responses, None)
        expected: dict[str, object] = {"source": "twcs"}
        if responses:
            expected["response_tweet_ids"] = list(responses)
        assert raw_payload(tweet) == json.dumps(expected)


# Hypothesis takes naive bounds; the values are made aware below.
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))  # noqa: DTZ001
def test_parse_time_agrees_with_strptime(naive: datetime) -> None:
    when = naive.replace(microsecond=0, tzinfo=UTC)
    text = format_time(when)
    assert parse_time(text) == when == datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")


# -- the corpus files ---------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [5000, 7])
def test_every_sample_thread_comes_out_as_in_the_file(
    session: Session, twcs_dir: Path, batch_size: int
) -> None:
    org = _org(session)
    path = twcs_dir / "sample_threads.csv"
    report, problems = _import(path, org, batch_size=batch_size)
    assert problems == []
    assert report.failed == 0
    rows = _rows(path)
    threads = _threads(rows)
    all_brands = {r["author_id"] for r in rows if r["inbound"] == "False"}
    assert _count(session, Conversation) == len(threads)
    for thread in threads:
        ids = {r["tweet_id"] for r in thread}
        conversation_ids = set(
            session.scalars(select(Message.conversation_id).where(Message.native_id.in_(ids)))
        )
        assert len(conversation_ids) == 1, f"thread {sorted(ids)} split over {conversation_ids}"
        conversation = session.get(Conversation, conversation_ids.pop())
        assert conversation is not None
        stored = session.execute(
            select(Message, BrandAccount.handle, ContactIdentity.native_id)
            .join(BrandAccount, BrandAccount.id == Message.brand_account_id)
            .outerjoin(ContactIdentity, ContactIdentity.contact_id == Message.author_contact_id)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at, Message.id)
        ).all()
        expected = sorted(
            thread,
            key=lambda r: datetime.strptime(r["created_at"], "%a %b %d %H:%M:%S %z %Y"),
        )
        assert [m.native_id for m, _, _ in stored] == [r["tweet_id"] for r in expected]
        # The brand that replied in the thread, or else the one it @mentions.
        brands = {r["author_id"] for r in thread if r["inbound"] == "False"} or {
            m for r in thread for m in re.findall(r"@(\w+)", r["text"]) if m in all_brands
        }
        assert len(brands) == 1
        (brand,) = brands
        for (message, handle, author), row in zip(stored, expected, strict=True):
            assert handle == brand
            assert message.created_at == datetime.strptime(
                row["created_at"], "%a %b %d %H:%M:%S %z %Y"
            )
            assert message.text == html.unescape(row["text"])
            if row["inbound"] == "True":
                assert message.direction == "inbound"
                assert author == row["author_id"]
            else:
                assert message.direction == "outbound"
                assert message.author_contact_id is None
                assert message.delivery_state == "sent"
                assert message.sent_at == message.created_at
        assert conversation.message_count == len(thread)
        last_by_brand = expected[-1]["inbound"] == "False"
        assert conversation.status == (Status.RESOLVED if last_by_brand else Status.OPEN).value


def _attachable(rows: list[dict[str, str]]) -> set[str]:
    """Tweet ids the import can place: brand tweets, and customer tweets whose thread in the
    file has a brand tweet or @mentions a brand that writes in the file."""
    brands = {r["author_id"].lower() for r in rows if r["inbound"] == "False"}
    ok: set[str] = set()
    for thread in _threads(rows):
        mentioned = {m.lower() for r in thread for m in re.findall(r"@(\w+)", r["text"])} & brands
        has_brand = any(r["inbound"] == "False" for r in thread)
        for r in thread:
            if r["inbound"] == "False" or has_brand or mentioned:
                ok.add(r["tweet_id"])
    return ok


@pytest.mark.slow  # two imports of 5,000 rows: seconds per database, more on a busy machine
def test_all_valid_rows_of_the_5000_sample_import_and_twice_adds_nothing(
    session: Session, twcs_dir: Path
) -> None:
    org = _org(session)
    path = twcs_dir / "twcs_5000.csv"
    rows = _rows(path)
    expected = _attachable(rows)
    brands = {r["author_id"] for r in rows if r["inbound"] == "False"}
    customers = {
        r["author_id"] for r in rows if r["inbound"] == "True" and r["tweet_id"] in expected
    }

    report, problems = _import(path, org, batch_size=1000)
    assert report.rows == len(rows)
    assert report.bad == 0
    stored = set(session.scalars(select(Message.native_id)))
    assert stored == expected
    assert report.ingest.created == len(expected)
    # Every row left out is reported, by the line it starts on.
    assert report.unattached == len(rows) - len(expected) == len(problems)
    first_lines = _record_start_lines(path)
    left_out = [r["tweet_id"] for r in rows if r["tweet_id"] not in expected]
    assert sorted(p.line for p in problems) == sorted(first_lines[t] for t in left_out)
    assert {h for (h,) in session.execute(select(BrandAccount.handle))} == brands
    assert set(session.scalars(select(ContactIdentity.native_id))) == customers

    counts = [_count(session, m) for m in (Message, Conversation, Contact, BrandAccount)]
    session.commit()  # the import writes from its own sessions
    again, _ = _import(path, org, batch_size=700)
    assert [_count(session, m) for m in (Message, Conversation, Contact, BrandAccount)] == counts
    assert again.ingest.created == 0
    assert again.ingest.duplicates == len(expected)


def _record_start_lines(path: Path) -> dict[str, int]:
    """tweet_id -> the physical line (counted by newline characters, as grep -n does) that
    starts with that id. Quoted texts in the corpus hold line breaks and even lone CRs."""
    out: dict[str, int] = {}
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        match = re.match(rb"(\d+),", line)
        if match:
            out.setdefault(match.group(1).decode(), number)
    return out


def test_brand_option_restricts_to_that_brands_threads(session: Session, twcs_dir: Path) -> None:
    org = _org(session)
    path = twcs_dir / "sample_threads.csv"
    report, problems = _import(path, org, brand="@AppleSupport")
    assert problems == []
    rows = _rows(path)
    apple = [
        t
        for t in _threads(rows)
        if any(r["author_id"] == "AppleSupport" for r in t)
        or (all(r["inbound"] == "True" for r in t) and any("@AppleSupport" in r["text"] for r in t))
    ]
    assert {h for (h,) in session.execute(select(BrandAccount.handle))} == {"AppleSupport"}
    assert set(session.scalars(select(Message.native_id))) == {
        r["tweet_id"] for t in apple for r in t
    }
    assert report.other_brand == len(rows) - sum(len(t) for t in apple)


# -- handcrafted files --------------------------------------------------------------------

BROKEN = (
    HEADER
    + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp my parcel is late,2,\n"  # line 2
    + '2,AcmeHelp,False,Tue Oct 31 22:20:00 +0000 2017,"@111 Sorry!\nWe\'ll check.",3,1\n'
    + "3,111,True,Tue Oct 31 22:25:00 +0000 2017,thanks,,2\n"  # line 5
    + "4,112,True,yesterday,@AcmeHelp hello,,\n"  # line 6: unparseable time
    + "5,113,maybe,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp hi,,\n"  # line 7: inbound
    + ",114,True,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp hi,,\n"  # line 8: empty id
    + '6,115,True,Tue Oct 31 22:10:47 +0000 2017,"@AcmeHelp a\nlong\ntweet",,\n'  # 9-11
    + "7,116,True,Tue Oct 31 22:10:47 +0000 2017\n"  # line 12: too few columns
    + "8,117,True,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp x,,abc\n"  # line 13: bad reply id
    + "9,118,True,Tue Oct 31 22:11:47 +0000 2017,@AcmeHelp &amp; more,,\n"  # line 14
    + "10,,False,Tue Oct 31 22:11:47 +0000 2017,hi,,\n"  # line 15: empty author
)


def test_broken_rows_are_reported_by_line_and_good_rows_imported(
    session: Session, tmp_path: Path
) -> None:
    org = _org(session)
    path = tmp_path / "broken.csv"
    path.write_text(BROKEN, encoding="utf-8")
    result = CliRunner().invoke(import_, ["twcs", str(path), "--org", org.slug])
    assert result.exit_code == 1, result.output
    reported = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [line.split(":")[1] for line in reported] == ["6", "7", "8", "12", "13", "15"]
    assert "created_at 'yesterday'" in reported[0]
    assert "inbound must be True or False" in reported[1]
    assert "tweet_id is empty" in reported[2]
    assert "expected 7 columns, found 4" in reported[3]
    assert "in_response_to_tweet_id 'abc'" in reported[4]
    assert "author_id is empty" in reported[5]
    assert set(session.scalars(select(Message.native_id))) == {"1", "2", "3", "6", "9"}
    assert session.scalar(select(Message.text).where(Message.native_id == "9")) == (
        "@AcmeHelp & more"
    )
    assert _count(session, Conversation) == 3
    assert "6 bad rows" in result.stdout


def test_a_clean_file_exits_zero_and_a_rerun_adds_nothing(session: Session, tmp_path: Path) -> None:
    _org(session)
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + "".join(BROKEN.splitlines(keepends=True)[1:5]), encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(import_, ["twcs", str(path)])
    assert first.exit_code == 0, first.output
    assert "3 messages added" in first.stdout
    second = runner.invoke(import_, ["twcs", str(path)])
    assert second.exit_code == 0, second.output
    assert "0 messages added (3 already there)" in second.stdout
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.message_count == 3
    assert conversation.status == Status.OPEN.value  # the customer wrote last


def test_customer_tweet_settled_after_the_last_batch(session: Session, tmp_path: Path) -> None:
    # The customer's follow-up (no @mention) comes first; its thread's brand only later.
    org = _org(session)
    path = tmp_path / "late.csv"
    path.write_text(
        HEADER
        + "3,111,True,Tue Oct 31 22:25:00 +0000 2017,still waiting,,2\n"
        + "9,120,True,Tue Oct 31 22:25:00 +0000 2017,nobody knows me,,\n"
        + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,my parcel is late,2,\n"
        + "2,AcmeHelp,False,Tue Oct 31 22:20:00 +0000 2017,@111 Sorry,3,1\n",
        encoding="utf-8",
    )
    report, problems = _import(path, org, batch_size=1)
    assert gc.isenabled()  # paused for the import only
    assert [(p.line, "not imported" in p.reason) for p in problems] == [(3, True)]
    assert report.unattached == 1
    assert set(session.scalars(select(Message.native_id))) == {"1", "2", "3"}
    assert len(set(session.scalars(select(Message.conversation_id)))) == 1
    session.commit()
    again, _ = _import(path, org, batch_size=2)
    assert again.ingest.created == 0


def test_organization_must_be_named_when_there_are_several(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER, encoding="utf-8")
    none = CliRunner().invoke(import_, ["twcs", str(path)])
    assert none.exit_code != 0
    assert "no organization yet" in none.output
    _org(session)
    _org(session)
    several = CliRunner().invoke(import_, ["twcs", str(path)])
    assert several.exit_code != 0
    assert "--org" in several.output
    unknown = CliRunner().invoke(import_, ["twcs", str(path), "--org", "nope"])
    assert "no organization with slug 'nope'" in unknown.output


def test_a_file_without_the_twcs_header_is_refused(session: Session, tmp_path: Path) -> None:
    org = _org(session)
    path = tmp_path / "other.csv"
    path.write_text("id,text\n1,hello\n", encoding="utf-8")
    result = CliRunner().invoke(import_, ["twcs", str(path), "--org", org.slug])
    assert result.exit_code == 1
    assert "the header lacks tweet_id" in result.output
    assert _count(session, Message) == 0


def test_a_later_file_continues_threads_of_an_earlier_one(session: Session, tmp_path: Path) -> None:
    org = _org(session)
    first = tmp_path / "first.csv"
    first.write_text(
        HEADER
        + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp my parcel is late,2,\n"
        + "2,AcmeHelp,False,Tue Oct 31 22:20:00 +0000 2017,@111 Sorry,3,1\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.csv"
    # No @mention and no brand in this file: the thread stored before tells the brand.
    second.write_text(
        HEADER + "3,111,True,Tue Oct 31 22:25:00 +0000 2017,still waiting,,2\n",
        encoding="utf-8",
    )
    _import(first, org)
    report, problems = _import(second, org)
    assert problems == []
    assert report.ingest.created == 1
    assert report.ingest.conversations_changed == 1
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.message_count == 3
    # History the import extended keeps the status the first import gave it.
    assert conversation.status == Status.RESOLVED.value


@pytest.mark.parametrize("probe_limit", [0, 10**9])
def test_settling_reads_stored_threads_of_this_organization_only(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_limit: int
) -> None:
    """Rows set aside are placed by the threads already stored, read either by index probes per
    account or (many ids, many accounts) by one scan of each index: both see only the
    organization's own accounts, though another organization stores the same tweet ids."""
    monkeypatch.setattr(twcs, "_PROBE_LIMIT", probe_limit)
    first = tmp_path / "first.csv"
    first.write_text(
        HEADER
        + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,@AcmeHelp my parcel is late,2,\n"
        + "2,AcmeHelp,False,Tue Oct 31 22:20:00 +0000 2017,@111 Sorry,3,1\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text(
        HEADER
        + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,@OtherCo hello,2,\n"
        + "2,OtherCo,False,Tue Oct 31 22:20:00 +0000 2017,@111 Hi,3,1\n"
        + "4,OtherCo,False,Tue Oct 31 22:21:00 +0000 2017,@111 And,,2\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.csv"
    second.write_text(
        HEADER + "3,111,True,Tue Oct 31 22:25:00 +0000 2017,still waiting,,2\n",
        encoding="utf-8",
    )
    other = _org(session)
    _import(elsewhere, other)
    org = _org(session)
    _import(first, org)
    report, problems = _import(second, org)
    assert problems == []
    assert report.ingest.created == 1
    placed = session.execute(
        select(BrandAccount.handle, BrandAccount.organization_id)
        .join(Message, Message.brand_account_id == BrandAccount.id)
        .where(Message.native_id == "3")
    ).all()
    assert placed == [("AcmeHelp", org.id)]


def test_brand_option_takes_tweets_no_brand_can_be_found_for(
    session: Session, tmp_path: Path
) -> None:
    org = _org(session)
    path = tmp_path / "orphans.csv"
    path.write_text(
        HEADER
        + "1,111,True,Tue Oct 31 22:10:47 +0000 2017,my parcel is late,,\n"
        + "5,112,True,Tue Oct 31 22:10:47 +0000 2017,@OtherBrand hello,,\n"
        + "6,OtherBrand,False,Tue Oct 31 22:12:47 +0000 2017,@112 hi,,5\n",
        encoding="utf-8",
    )
    report, problems = _import(path, org, brand="AcmeHelp")
    assert problems == []
    assert report.other_brand == 2
    rows = session.execute(
        select(Message.native_id, BrandAccount.handle).join(
            BrandAccount, BrandAccount.id == Message.brand_account_id
        )
    ).all()
    assert [tuple(r) for r in rows] == [("1", "AcmeHelp")]


def test_a_rerun_after_an_erasure_brings_nothing_back(session: Session, tmp_path: Path) -> None:
    """The customer asked to be erased after the import; importing the same file again must
    not undo it, and says how many rows it left out for that reason."""
    org = _org(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    session.commit()
    path = tmp_path / "clean.csv"
    path.write_text(HEADER + "".join(BROKEN.splitlines(keepends=True)[1:5]), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(import_, ["twcs", str(path)]).exit_code == 0
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.contact_id is not None
    privacy.erase(session, organization_id=org.id, contact_id=conversation.contact_id, actor=admin)
    session.commit()

    again = runner.invoke(import_, ["twcs", str(path)])
    assert again.exit_code == 0, again.output
    assert "0 messages added (0 already there, 3 erased with their customer before)" in (
        again.stdout
    )
    assert _count(session, Message) == 0
    assert _count(session, Conversation) == 0
