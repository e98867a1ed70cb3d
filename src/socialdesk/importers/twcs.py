"""Import the "Customer Support on Twitter" corpus (twcs) CSV format.

Columns: ``tweet_id, author_id, inbound, created_at, text, response_tweet_id,
in_response_to_tweet_id``. ``inbound`` is False for tweets written by a brand (whose
``author_id`` is its handle, e.g. ``AppleSupport``) and True for customers (anonymised numeric
ids). ``created_at`` looks like ``Tue Oct 31 22:10:47 +0000 2017``. ``response_tweet_id`` may
list several ids separated by commas; ids sometimes carry a ``.0`` (the corpus went through
pandas).

Every brand becomes a brand account of kind ``x`` (created when missing) and its tweets outbound
replies (sent); customer tweets become inbound messages from contacts keyed by ``author_id``.
Threads come from the reply ids through the batch ingest path (conversations/bulk.py), with the
original timestamps.

A customer tweet belongs to one brand account: the brand that replied in its thread, or else
the brand its thread @mentions, or else ``--brand``. The file is read as a stream, one batch at
a time; a customer tweet whose brand cannot be told within its batch is set aside in a
temporary file and settled after the last batch, when every brand of the file is known and its
thread can also be looked up among the stored messages of every brand account. What remains
unattached is reported, like malformed rows, as ``file:line: reason``.

Choosing the brand from the file alone (and never from what an earlier run stored) is what makes
a re-run attach every tweet to the same account again, so re-running adds nothing.
"""

from __future__ import annotations

import csv
import gc
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations.bulk import BatchResult, BulkIngest, BulkMessage, any_of
from socialdesk.conversations.models import Message

COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)
CHANNEL = ChannelKind.X.value
_PUBLIC = Visibility.PUBLIC.value
# Rows per batch, and so per transaction. Into a large database most of an import's cost is
# index pages rewritten at each commit, so fewer, larger batches cost less per message
# (measured at a million messages: 20,000 a batch took two thirds of the CPU time and half the
# wall time of 5,000). Each batch holds SQLite's write lock while it runs, a few seconds, well
# under the busy timeout other writers wait.
DEFAULT_BATCH_SIZE = 20_000
# Rows set aside are settled in chunks this large (one lookup round per chunk).
SETTLE_CHUNK = 50_000
# Above this many index probes, _stored_in reads the accounts' messages in one pass instead.
_PROBE_LIMIT = 400_000

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_MONTH_DIGITS = {name: f"{number:02d}" for name, number in _MONTHS.items()}
_WEEKDAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
# The corpus's own form of created_at: UTC, every field zero-padded.
_UTC_TIME = re.compile(
    rf"(?:{'|'.join(sorted(_WEEKDAYS))}) ({'|'.join(_MONTHS)}) ([0-9]{{2}}) "
    r"([0-9]{2}:[0-9]{2}:[0-9]{2}) \+0000 ([0-9]{4})"
)
_ID = re.compile(r"[0-9]+(?:\.0*)?")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})", re.ASCII)
# "True" and "False" as the corpus writes them are found without lowering the value.
_BOOLEANS = {"True": True, "False": False, "true": True, "false": False, "1": True, "0": False}


class TwcsFormatError(Exception):
    """The file cannot be read as twcs at all (no header, missing columns)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that was not imported, and why. ``line`` is the physical line the row starts on."""

    line: int
    reason: str


@dataclass(slots=True)
class Tweet:
    """One good row. Not frozen: a frozen dataclass costs several times as much to make, and
    there is one per row."""

    line: int
    tweet_id: str
    author_id: str
    inbound: bool
    created_at: datetime
    text: str
    response_ids: tuple[str, ...]
    in_response_to: str | None

    def mentions(self) -> list[str]:
        return _MENTION.findall(self.text)

    def to_json(self) -> str:
        return json.dumps(
            [
                self.line,
                self.tweet_id,
                self.author_id,
                self.inbound,
                self.created_at.isoformat(),
                self.text,
                self.response_ids,
                self.in_response_to,
            ],
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str) -> Tweet:
        line, tweet_id, author_id, inbound, created, text, responses, parent = json.loads(data)
        return cls(
            line=line,
            tweet_id=tweet_id,
            author_id=author_id,
            inbound=inbound,
            created_at=datetime.fromisoformat(created),
            text=text,
            response_ids=tuple(responses),
            in_response_to=parent,
        )


# -- reading ------------------------------------------------------------------------------


def parse_time(value: str) -> datetime:
    """``Tue Oct 31 22:10:47 +0000 2017`` (the format of Twitter's v1.1 API) to aware UTC.
    Hand-written because strptime costs ten times as much and this runs once per row: the
    corpus's own shape (UTC, zero-padded) is rearranged into ISO 8601 for the C parser, and
    anything else takes the general path, which also says what is wrong."""
    match = _UTC_TIME.fullmatch(value)
    if match is not None:
        month, day, hms, year = match.groups()
        try:
            return datetime.fromisoformat(f"{year}-{_MONTH_DIGITS[month]}-{day}T{hms}+00:00")
        except ValueError:
            pass  # e.g. Feb 30: the general path below words the error
    parts = value.split()
    if len(parts) != 6:
        raise ValueError(f"created_at {value!r} is not like 'Tue Oct 31 22:10:47 +0000 2017'")
    weekday, month_name, day, clock_time, offset, year = parts
    month = _MONTHS.get(month_name)
    hms = clock_time.split(":")
    if (
        weekday not in _WEEKDAYS
        or month is None
        or len(hms) != 3
        or len(offset) != 5
        or offset[0] not in "+-"
        or not offset[1:].isdigit()
    ):
        raise ValueError(f"created_at {value!r} is not like 'Tue Oct 31 22:10:47 +0000 2017'")
    try:
        at = datetime(int(year), month, int(day), int(hms[0]), int(hms[1]), int(hms[2]), tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"created_at {value!r} is not a valid time: {exc}") from None
    if offset != "+0000":
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        at = at - shift if offset[0] == "+" else at + shift
    return at


def format_time(value: datetime) -> str:
    """The inverse of :func:`parse_time` (UTC)."""
    return value.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def _tweet_id(value: str, column: str) -> str:
    if value.isdigit():  # the common case, without a regex
        return value
    value = value.strip()
    if not _ID.fullmatch(value):
        raise ValueError(f"{column} {value!r} is not a tweet id")
    return value.split(".", 1)[0]


def _response_ids(value: str) -> tuple[str, ...]:
    if value.isdigit():  # one id, the common case
        return (value,)
    if not value.strip():
        return ()
    return tuple(_tweet_id(r, "response_tweet_id") for r in value.split(","))


def _parent_id(value: str) -> str | None:
    if value.isdigit():
        return value
    return _tweet_id(value, "in_response_to_tweet_id") if value.strip() else None


def unescape(text: str) -> str:
    # Twitter's v1.1 API, where the corpus comes from, escapes exactly &, < and > in tweet text.
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class _CountingLines:
    """The file's lines, counting newlines, so each CSV record knows the physical line it
    starts on even when quoted fields span several lines."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.newlines = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.newlines += line.count("\n")
            yield line


def read_tweets(stream: IO[str]) -> Iterator[Tweet | Problem]:
    """Parse a twcs CSV stream row by row: a :class:`Tweet` per good row, a :class:`Problem`
    per bad one. Raises :class:`TwcsFormatError` when the header is unusable."""
    lines = _CountingLines(stream)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise TwcsFormatError("the file is empty; expected a header line") from None
    except csv.Error as exc:
        raise TwcsFormatError(f"line 1: {exc}") from None
    names = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise TwcsFormatError(
            f"line 1: the header lacks {', '.join(missing)}; expected {','.join(COLUMNS)}"
        )
    width = len(names)
    columns = _Columns(*(names.index(c) for c in COLUMNS))
    while True:
        start = lines.newlines + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Problem(start, f"unreadable CSV: {exc}")
            continue
        if not record:
            continue  # a blank line
        if len(record) != width:
            yield Problem(start, f"expected {width} columns, found {len(record)}")
            continue
        try:
            yield _tweet(record, columns, start)
        except ValueError as exc:
            yield Problem(start, str(exc))


@dataclass(frozen=True, slots=True)
class _Columns:
    """Where each column is in the file's rows."""

    tweet_id: int
    author_id: int
    inbound: int
    created_at: int
    text: int
    response_tweet_id: int
    in_response_to_tweet_id: int


def _tweet(record: list[str], col: _Columns, line: int) -> Tweet:
    """One good row, or ValueError saying what is wrong with it."""
    tweet_id = record[col.tweet_id]
    if not tweet_id.isdigit():  # the common case needs no stripping or pattern
        tweet_id = tweet_id.strip()
        if not tweet_id:
            raise ValueError("tweet_id is empty")
        tweet_id = _tweet_id(tweet_id, "tweet_id")
    author = record[col.author_id].strip()
    if not author:
        raise ValueError("author_id is empty")
    inbound = _BOOLEANS.get(record[col.inbound])
    if inbound is None:
        inbound = _BOOLEANS.get(record[col.inbound].strip().lower())
    if inbound is None:
        raise ValueError(f"inbound must be True or False, not {record[col.inbound]!r}")
    created_at = parse_time(record[col.created_at])
    response_ids = _response_ids(record[col.response_tweet_id])
    in_response_to = _parent_id(record[col.in_response_to_tweet_id])
    if in_response_to == tweet_id:
        raise ValueError(f"tweet {tweet_id} answers itself")
    return Tweet(
        line,
        tweet_id,
        author,
        inbound,
        created_at,
        unescape(record[col.text]),
        response_ids,
        in_response_to,
    )


# -- threads within a batch ---------------------------------------------------------------


def _components(tweets: Sequence[Tweet]) -> dict[str, list[Tweet]]:
    """The batch's tweets grouped by reply links (both columns), keyed by a root id."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        root = parent.setdefault(key, key)
        while parent[root] != root:
            root = parent[root]
        while key != root:
            parent[key], key = root, parent[key]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    for t in tweets:
        find(t.tweet_id)
        if t.in_response_to:
            union(t.tweet_id, t.in_response_to)
        for r in t.response_ids:
            union(t.tweet_id, r)
    groups: dict[str, list[Tweet]] = {}
    for t in tweets:
        groups.setdefault(find(t.tweet_id), []).append(t)
    return groups


def _replying_brand(thread: Sequence[Tweet]) -> str | None:
    """The brand that wrote most in the thread (the first to write, on a tie)."""
    if len(thread) == 1:  # most threads of a random sample: no Counter needed
        return None if thread[0].inbound else thread[0].author_id
    counts = Counter(t.author_id for t in thread if not t.inbound)
    if not counts:
        return None
    best = max(counts.values())
    return next(t.author_id for t in thread if not t.inbound and counts[t.author_id] == best)


# -- the import ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0  # data rows read (good and bad)
    bad: int = 0  # rows that could not be parsed
    unattached: int = 0  # good customer rows no brand account could be found for
    other_brand: int = 0  # good rows left out by --brand
    accounts_created: list[str] = field(default_factory=list)
    ingest: BatchResult = field(default_factory=BatchResult)

    @property
    def failed(self) -> int:
        return self.bad + self.unattached


class TwcsImport:
    """One import of one file into one organization. See the module docstring."""

    def __init__(
        self,
        *,
        session_factory: Callable[[], Session],
        organization_id: int,
        brand: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_problem: Callable[[Problem], None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._sessions = session_factory
        self.organization_id = organization_id
        self.brand = brand.strip().lstrip("@") if brand else None
        if self.brand == "":
            raise ValueError("--brand needs a handle")
        self.batch_size = batch_size
        self._on_problem = on_problem or (lambda _problem: None)
        self._bulk = BulkIngest(organization_id=organization_id, now=now)
        self.report = ImportReport()
        # lower-cased handle -> handle as written, for the brands that wrote in this file so far
        self._file_brands: dict[str, str] = {}
        if self.brand:
            self._file_brands[self.brand.lower()] = self.brand
        # lower-cased handle -> brand account id, for the organization's X accounts, and back
        self._accounts: dict[str, int] = {}
        self._handles: dict[int, str] = {}
        self._by_handle: dict[str, int] = {}  # exact spelling -> id, the fast path

    def _problem(self, line: int, reason: str) -> None:
        self._on_problem(Problem(line, reason))

    def run(self, stream: IO[str]) -> ImportReport:
        with self._sessions() as session:
            for account_id, handle in session.execute(
                select(BrandAccount.id, BrandAccount.handle).where(
                    BrandAccount.organization_id == self.organization_id,
                    BrandAccount.kind == CHANNEL,
                )
            ):
                self._accounts.setdefault(handle.lower(), account_id)
                self._handles[account_id] = handle
        with tempfile.TemporaryFile("w+", encoding="utf-8") as aside, _batch_collections():
            set_aside = 0
            batch: list[Tweet] = []
            for row in read_tweets(stream):
                self.report.rows += 1
                if isinstance(row, Problem):
                    self.report.bad += 1
                    self._on_problem(row)
                    continue
                batch.append(row)
                if len(batch) >= self.batch_size:
                    set_aside += self._main_batch(batch, aside)
                    batch = []
            if batch:
                set_aside += self._main_batch(batch, aside)
            if set_aside:
                aside.seek(0)
                self._settle(Tweet.from_json(line) for line in aside)
        return self.report

    # -- choosing brand accounts --------------------------------------------------------

    def _brand_by_mention(self, thread: Sequence[Tweet], known: dict[str, str]) -> str | None:
        """The first known brand the thread's tweets @mention (``--brand`` first if it is
        among them)."""
        first: str | None = None
        for t in thread:
            for handle in t.mentions():
                brand = known.get(handle.lower())
                if brand is None:
                    continue
                if self.brand and brand.lower() == self.brand.lower():
                    return brand
                first = first or brand
        return first

    def _main_batch(self, tweets: list[Tweet], aside: IO[str]) -> int:
        """Attach what can be attached from the file alone, ingest it, and set the rest aside.
        Returns how many were set aside."""
        for t in tweets:
            if not t.inbound:
                self._file_brands.setdefault(t.author_id.lower(), t.author_id)
        chosen: list[tuple[str, Tweet]] = []
        deferred = 0
        for thread in _components(tweets).values():
            brand = _replying_brand(thread) or self._brand_by_mention(thread, self._file_brands)
            for t in thread:
                handle = t.author_id if not t.inbound else brand
                if handle is None:
                    aside.write(t.to_json() + "\n")
                    deferred += 1
                else:
                    chosen.append((handle, t))
        self._ingest(chosen)
        return deferred

    def _settle(self, tweets: Iterable[Tweet]) -> None:
        """The rows set aside: by now every brand of the file is known and stored. Each goes
        where its own id is already stored (a re-run), else to the account holding the most of
        its thread, else to a brand the thread @mentions, else to ``--brand``."""
        chunk: list[Tweet] = []
        for t in tweets:
            chunk.append(t)
            if len(chunk) >= SETTLE_CHUNK:
                self._settle_chunk(chunk)
                chunk = []
        if chunk:
            self._settle_chunk(chunk)

    def _settle_chunk(self, tweets: list[Tweet]) -> None:
        known = dict(self._file_brands)
        handles_by_id: dict[int, str] = {}
        with self._sessions() as session:
            for account_id, account_handle in session.execute(
                select(BrandAccount.id, BrandAccount.handle).where(
                    BrandAccount.organization_id == self.organization_id,
                    BrandAccount.kind == CHANNEL,
                )
            ):
                known.setdefault(account_handle.lower(), account_handle)
                handles_by_id[account_id] = account_handle
            refs = set()
            for t in tweets:
                refs.add(t.tweet_id)
                refs.update(t.response_ids)
                if t.in_response_to:
                    refs.add(t.in_response_to)
            stored, replied = _stored_in(session, list(handles_by_id), sorted(refs))
        chosen: list[tuple[str, Tweet]] = []
        unattached: list[Tweet] = []
        for thread in _components(tweets).values():
            votes: Counter[int] = Counter()
            for t in thread:
                # Its parent, its replies, and other replies to its parent or to a reply of
                # its own that is not in the file.
                for ref in (t.in_response_to, *t.response_ids):
                    if ref:
                        votes.update(stored.get(ref, ()))
                        votes.update(replied.get(ref, ()))
                votes.update(replied.get(t.tweet_id, ()))
            thread_brand = (
                handles_by_id[min(votes, key=lambda a: (-votes[a], a))] if votes else None
            )
            brand = (
                thread_brand
                or self._brand_by_mention(thread, known)
                or (known.get(self.brand.lower()) if self.brand else None)
            )
            for t in thread:
                home = stored.get(t.tweet_id)
                handle: str | None = handles_by_id[min(home)] if home else brand
                if handle is None:
                    unattached.append(t)
                else:
                    chosen.append((handle, t))
        self.report.unattached += len(unattached)
        for t in sorted(unattached, key=lambda t: t.line):
            self._problem(
                t.line,
                f"tweet {t.tweet_id} not imported: no brand replied in its thread and it "
                "@mentions no brand of this file (attach such tweets with --brand HANDLE)",
            )
        for start in range(0, len(chosen), self.batch_size):
            self._ingest(chosen[start : start + self.batch_size])

    # -- storing ------------------------------------------------------------------------

    def _account_id(self, session: Session, handle: str) -> int:
        account_id = self._by_handle.get(handle)
        if account_id is not None:
            return account_id
        key = handle.lower()
        account_id = self._accounts.get(key)
        if account_id is None:
            account = channels_service.create(
                session,
                organization_id=self.organization_id,
                kind=CHANNEL,
                handle=handle,
                display_name=handle,
            )
            account_id = self._accounts[key] = account.id
            self._handles[account_id] = handle
            self.report.accounts_created.append(handle)
        self._by_handle[handle] = account_id
        return account_id

    def _ingest(self, chosen: list[tuple[str, Tweet]]) -> None:
        if not chosen:
            return
        with self._sessions() as session:
            # A customer tweet stored by an earlier run stays where it is, even if this run
            # would choose differently (other batch boundaries can reveal a thread's brand
            # sooner or later): so a re-run never stores it twice.
            homes = _homes(session, self.organization_id, [t for _, t in chosen if t.inbound])
            messages = []
            for choice, t in chosen:
                home = homes.get(t.tweet_id)
                handle = choice if home is None else self._handles[home]
                if self.brand and handle.lower() != self.brand.lower():
                    self.report.other_brand += 1
                    continue
                account_id = home if home is not None else self._account_id(session, handle)
                messages.append(to_message(t, account_id))
            result = self._bulk.ingest_messages(session, messages)
            session.commit()
        self.report.ingest.add(result)
        gc.collect(1)  # what the batch left in cycles (see _batch_collections)


_RAW_ALONE = json.dumps({"source": "twcs"})


def raw_payload(tweet: Tweet) -> str:
    """The message's raw payload as the JSON column stores it (what ``json.dumps`` writes):
    where it came from, and the reply ids the row listed. Formatted directly for the usual
    digit-only ids, which need no escaping."""
    if not tweet.response_ids:
        return _RAW_ALONE
    listed = '", "'.join(tweet.response_ids)
    if listed.isascii():
        return f'{{"source": "twcs", "response_tweet_ids": ["{listed}"]}}'
    return json.dumps({"source": "twcs", "response_tweet_ids": list(tweet.response_ids)})


@contextmanager
def _batch_collections() -> Iterator[None]:
    """A batch keeps tens of thousands of small objects alive (rows, messages, threads) while
    it makes more, and Python's cyclic collector passes over the survivors again and again as
    they grow (measured: about a tenth of the import's CPU time at 60,000 rows). So it is
    paused for the import, and each batch collects what it left, once, when it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def to_message(tweet: Tweet, brand_account_id: int) -> BulkMessage:
    """The tweet as a message of the batch path: a brand's tweet is an outbound reply written
    by its account (handle = author id), a customer's an inbound message from that author."""
    return BulkMessage(
        brand_account_id,
        tweet.tweet_id,
        tweet.author_id,
        tweet.text,
        tweet.created_at,
        tweet.in_response_to,
        None,
        not tweet.inbound,
        _PUBLIC,
        None if tweet.inbound else tweet.author_id,
        None,
        None,
        raw_payload(tweet),
    )


def _homes(session: Session, organization_id: int, tweets: list[Tweet]) -> dict[str, int]:
    """tweet id -> the brand account already storing it, for customer tweets. Found through
    the author's contact (messages are indexed by author), which costs the same whatever the
    number of brand accounts."""
    if not tweets:
        return {}
    dialect = session.get_bind().dialect.name
    authors = sorted({t.author_id for t in tweets})
    contact_ids = list(
        session.scalars(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.organization_id == organization_id,
                ContactIdentity.channel == CHANNEL,
                any_of(ContactIdentity.native_id, authors, dialect=dialect),
            )
        )
    )
    if not contact_ids:
        return {}
    wanted = sorted({t.tweet_id for t in tweets})
    return {
        native_id: account_id
        for native_id, account_id in session.execute(
            select(Message.native_id, Message.brand_account_id).where(
                any_of(Message.author_contact_id, contact_ids, dialect=dialect),
                any_of(Message.native_id, wanted, dialect=dialect),
            )
        )
        if native_id is not None
    }


def _stored_in(
    session: Session, account_ids: list[int], native_ids: list[str]
) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """For the given accounts: native id -> accounts storing a message with that id, and
    native id -> accounts storing a reply to it.

    Messages are indexed by (account, native id), so asking every account costs one index probe
    per id per account. With many ids and many accounts one pass over each of the two indexes
    that hold the ids (the unique (account, native id) and (account, reply-to id)) is cheaper;
    the choice is made on the numbers."""
    stored: dict[str, set[int]] = {}
    replied: dict[str, set[int]] = {}
    if not account_ids or not native_ids:
        return stored, replied
    dialect = session.get_bind().dialect.name
    probes = 2 * len(native_ids) * len(account_ids)
    if dialect == "postgresql" or probes <= _PROBE_LIMIT:
        by_id: list[Executable] = [
            select(Message.brand_account_id, Message.native_id).where(
                Message.brand_account_id == account_id,
                any_of(Message.native_id, native_ids, dialect=dialect),
            )
            for account_id in account_ids
        ]
        by_reply: list[Executable] = [
            select(Message.brand_account_id, Message.native_reply_to_id).where(
                Message.brand_account_id == account_id,
                any_of(Message.native_reply_to_id, native_ids, dialect=dialect),
            )
            for account_id in account_ids
        ]
    else:
        # Each statement reads only columns of one index, so SQLite scans that index (narrow)
        # rather than the table; the account is checked here.
        by_id = [
            select(Message.brand_account_id, Message.native_id).where(
                any_of(Message.native_id, native_ids, dialect=dialect)
            )
        ]
        by_reply = [
            select(Message.brand_account_id, Message.native_reply_to_id).where(
                any_of(Message.native_reply_to_id, native_ids, dialect=dialect)
            )
        ]
    accounts = set(account_ids)
    for found, statements in ((stored, by_id), (replied, by_reply)):
        for statement in statements:
            for account_id, native_id in session.execute(statement):
                if account_id in accounts and native_id is not None:
                    found.setdefault(native_id, set()).add(account_id)
    return stored, replied


def import_file(
    path: Path,
    *,
    session_factory: Callable[[], Session],
    organization_id: int,
    brand: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_problem: Callable[[Problem], None] | None = None,
    now: Callable[[], datetime] | None = None,
) -> ImportReport:
    """Import one twcs CSV file (see the module docstring)."""
    importer = TwcsImport(
        session_factory=session_factory,
        organization_id=organization_id,
        brand=brand,
        batch_size=batch_size,
        on_problem=on_problem,
        now=now,
    )
    with path.open(newline="", encoding="utf-8") as stream:
        return importer.run(stream)
