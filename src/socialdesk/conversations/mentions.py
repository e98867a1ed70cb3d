"""Colleagues and teams mentioned in an internal note: "@Ana, can you check the refund?",
"@Field service, anyone near Millbrook?".

A mention is ``@`` at the start of a word followed by a colleague's full name, the part of
their email address before the ``@``, their first name when no other active colleague shares
it, or a team's name. The longest match wins ("@Ana Lopez" over "@Ana"), matching ignores
case, and the name must end where a word ends ("@Anabel" is not "@Ana"). An ``@`` inside a
word (an email address such as ``help@acme.example``) is not a mention. A name that two
colleagues (or a colleague and a team) share names neither; the email address part still
tells colleagues apart.

Pure text work: the caller gives the colleagues (active members of the organization) and
teams, and decides what a mention does (``conversations.service.add_note`` notifies them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Characters that make an "@" part of a word before it (an address, a handle), or a name go
# on after the match.
_WORD_JOINERS = frozenset("._-+'\u2019")


@dataclass(frozen=True, slots=True)
class Colleague:
    id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Mention:
    """One mention, of a colleague or of a team: ``text[start:end]`` is the ``@`` and the
    name as written."""

    start: int
    end: int
    member_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a note as the desk shows it: plain text, or a mention."""

    text: str
    member_id: int | None = None
    team_id: int | None = None

    @property
    def is_mention(self) -> bool:
        return self.member_id is not None or self.team_id is not None


# Who a name stands for: ("member", id) or ("team", id).
_Whom = tuple[str, int]


def _keys(colleagues: Iterable[Colleague], teams: Iterable[Team]) -> list[tuple[str, _Whom]]:
    """Every name a colleague or team answers to, folded, with whose it is; names shared
    are left out."""
    owners: dict[str, set[_Whom]] = {}

    def add(name: str, whom: _Whom) -> None:
        if len(name) >= 2:
            owners.setdefault(name.casefold(), set()).add(whom)

    for c in colleagues:
        full = " ".join(c.name.split())
        add(full, ("member", c.id))
        add(c.email.partition("@")[0], ("member", c.id))
        if " " in full:
            add(full.split(" ", 1)[0], ("member", c.id))
    for t in teams:
        add(" ".join(t.name.split()), ("team", t.id))
    return [(key, next(iter(whom))) for key, whom in owners.items() if len(whom) == 1]


def _starts_word(text: str, at: int) -> bool:
    if at == 0:
        return True
    before = text[at - 1]
    return not (before.isalnum() or before in _WORD_JOINERS or before == "@")


def _ends_word(text: str, at: int) -> bool:
    if at >= len(text):
        return True
    after = text[at]
    if after.isalnum() or after == "_":
        return False
    # "@ana.lopez" goes on past "@ana"; a full stop that ends the sentence does not.
    return not (after in _WORD_JOINERS and at + 1 < len(text) and text[at + 1].isalnum())


def find(text: str, colleagues: Iterable[Colleague], teams: Iterable[Team] = ()) -> list[Mention]:
    """The mentions in ``text``, in order."""
    if "@" not in text:
        return []
    # By length, longest first: each "@" costs one look-up per length, whoever the team is.
    by_length: dict[int, dict[str, _Whom]] = {}
    for key, owner in _keys(colleagues, teams):
        by_length.setdefault(len(key), {})[key] = owner
    lengths = sorted(by_length, reverse=True)
    found: list[Mention] = []
    at = text.find("@")
    while at != -1:
        end = at + 1
        if _starts_word(text, at):
            for length in lengths:
                stop = at + 1 + length
                if stop > len(text) or not _ends_word(text, stop):
                    continue
                hit = by_length[length].get(text[at + 1 : stop].casefold())
                if hit is not None:
                    kind, whom_id = hit
                    if kind == "team":
                        found.append(Mention(start=at, end=stop, team_id=whom_id))
                    else:
                        found.append(Mention(start=at, end=stop, member_id=whom_id))
                    end = stop
                    break
        at = text.find("@", end)
    return found


def member_ids(mentions: Iterable[Mention]) -> list[int]:
    """The colleagues mentioned by name, each once, in the order first mentioned."""
    return list(dict.fromkeys(m.member_id for m in mentions if m.member_id is not None))


def team_ids(mentions: Iterable[Mention]) -> list[int]:
    """The teams mentioned, each once, in the order first mentioned."""
    return list(dict.fromkeys(m.team_id for m in mentions if m.team_id is not None))


def segments(text: str, mentions: list[Mention]) -> list[Segment]:
    """``text`` cut into plain pieces and mentions, for showing mentions apart."""
    out: list[Segment] = []
    at = 0
    for m in mentions:
        if m.start > at:
            out.append(Segment(text[at : m.start]))
        out.append(Segment(text[m.start : m.end], m.member_id, m.team_id))
        at = m.end
    if at < len(text) or not out:
        out.append(Segment(text[at:]))
    return out
