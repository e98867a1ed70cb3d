"""Which notifications a member also gets by email.

Every notification is shown in the desk. Email is per topic: a member turns off the topics
they would rather only read in the desk (a lead who watches the SLA board all day needs no
SLA mail). Kinds outside every topic are always emailed, so a new kind is never silently lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.common.errors import ValidationFailed


@dataclass(frozen=True)
class Topic:
    key: str
    label: str
    description: str
    # A kind belongs to the topic when it equals one of these or starts with one ending in ".".
    kinds: tuple[str, ...]

    def covers(self, kind: str) -> bool:
        return any(kind == k or (k.endswith(".") and kind.startswith(k)) for k in self.kinds)


TOPICS: tuple[Topic, ...] = (
    Topic(
        "promises",
        "Promises",
        "a promise is due soon or overdue, or is given or handed over to you",
        ("commitment.",),
    ),
    Topic(
        "mentions",
        "Mentions",
        'a colleague mentions you in an internal note ("@Ana, can you check?")',
        ("note.",),
    ),
    Topic(
        "requests",
        "Requests between teams",
        "you or your team are asked for help; a request you made is done, cancelled or late",
        ("escalation.",),
    ),
    Topic(
        "sla",
        "Service levels",
        "a conversation you own is about to miss, or has missed, its response or resolution time",
        ("sla.",),
    ),
    Topic(
        "followups",
        "Follow-ups",
        "a follow-up needs a person, or a customer answered that the problem is not fixed",
        ("followup.",),
    ),
    Topic(
        "replies",
        "Replies and approvals",
        "a reply you wrote or own could not be sent, one you withdrew could not be taken back, "
        "a draft waits for your approval, or an approver decided on yours",
        ("reply.", "approval."),
    ),
    Topic(
        "polls",
        "Polls",
        "a poll you asked was approved or refused, could not be posted, or closed with its "
        "result; one you withdrew could not be taken back",
        ("poll.",),
    ),
    Topic(
        "automation",
        "Automation rules",
        "a rule notifies you about a conversation",
        ("automation",),
    ),
    Topic(
        "alerts",
        "Volume alerts",
        "more customers than usual write about something an alert watches",
        ("alert.",),
    ),
    Topic(
        "health",
        "Accounts and integrations",
        "a brand account, a team webhook or a team address is failing",
        ("account.", "webhook.", "team_email.", "mail."),
    ),
)
BY_KEY = {topic.key: topic for topic in TOPICS}


def topic_of(kind: str) -> Topic | None:
    return next((topic for topic in TOPICS if topic.covers(kind)), None)


def emails(member: Member, kind: str) -> bool:
    """Whether a notification of ``kind`` is also emailed to ``member``."""
    topic = topic_of(kind)
    return topic is None or topic.key not in (member.email_muted or [])


def email_choices(member: Member) -> dict[str, bool]:
    """Every topic's key and whether the member gets it by email, in the topics' order."""
    muted = set(member.email_muted or [])
    return {topic.key: topic.key not in muted for topic in TOPICS}


def set_email(session: Session, *, member: Member, choices: Mapping[str, bool]) -> dict[str, bool]:
    """Change some topics (key: email or not); the others stay as they were."""
    unknown = sorted(set(choices) - set(BY_KEY))
    if unknown:
        raise ValidationFailed(
            f"unknown notification topic {', '.join(map(repr, unknown))}; "
            f"the topics are {', '.join(BY_KEY)}",
            field="email",
        )
    current = email_choices(member)
    current.update({key: bool(value) for key, value in choices.items()})
    _store(member, (key for key, wanted in current.items() if not wanted))
    session.flush()
    return email_choices(member)


def _store(member: Member, muted: Iterable[str]) -> None:
    # A new list, so the ORM sees the change of a JSON column.
    member.email_muted = sorted(set(muted))
