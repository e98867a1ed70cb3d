"""What the desk's pages show, gathered in a few batched reads so a list of fifty rows costs a
handful of queries, not fifty. Pure reads: nothing here writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import permissions
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Team
from socialdesk.accounts.permissions import Permission
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.commitments import service as commitments_service
from socialdesk.common.deps import Actor
from socialdesk.common.errors import NotFound
from socialdesk.config import get_settings
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import Capabilities
from socialdesk.contacts import duplicates
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations import mentions
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from socialdesk.outbound import service as outbound_service
from socialdesk.triage.models import MessageTriage
from socialdesk.web.render import environment, zone


def channel_label(kind: str) -> str:
    return channels_service.channel_name(kind)


# Every page names channels ("Website", "X"): one global rather than a key in each context.
environment().globals["channel_label"] = channel_label


def priority_label(value: int) -> str:
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


def _by_id(session: Session, model: Any, ids: Iterable[int | None]) -> dict[int, Any]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}


@dataclass(frozen=True)
class Permissions:
    read: bool
    reply: bool
    note: bool
    manage: bool
    channels: bool = False  # connect and repair brand accounts
    approve: bool = False  # let held drafts out, or not
    privacy: bool = False  # export or erase a customer's data
    routing: bool = False  # routing, SLA and the team's shared inbox views

    @classmethod
    def of(cls, member: Member) -> Permissions:
        return cls(
            read=permissions.has(member, Permission.READ),
            reply=permissions.has(member, Permission.REPLY),
            note=permissions.has(member, Permission.NOTE),
            manage=permissions.has(member, Permission.MANAGE),
            channels=permissions.has(member, Permission.CHANNELS_MANAGE),
            approve=permissions.has(member, Permission.APPROVE),
            privacy=permissions.has(member, Permission.PRIVACY),
            routing=permissions.has(member, Permission.ROUTING_MANAGE),
        )


@dataclass(frozen=True)
class Directory:
    """The organization's people, teams and accounts, for names and the forms' choices."""

    members: dict[int, Member]
    teams: dict[int, Team]
    accounts: dict[int, BrandAccount]

    @classmethod
    def load(cls, session: Session, *, organization_id: int) -> Directory:
        return cls(
            members={
                m.id: m
                for m in accounts_service.list_members(session, organization_id=organization_id)
            },
            teams={
                t.id: t
                for t in accounts_service.list_teams(session, organization_id=organization_id)
            },
            accounts={
                a.id: a
                for a in channels_service.list_for_org(session, organization_id=organization_id)
            },
        )

    def member_name(self, member_id: int | None) -> str:
        if member_id is None:
            return "nobody"
        member = self.members.get(member_id)
        return member.name if member else f"member {member_id}"

    def team_name(self, team_id: int | None) -> str:
        if team_id is None:
            return "no team"
        team = self.teams.get(team_id)
        return team.name if team else f"team {team_id}"

    @property
    def active_members(self) -> list[Member]:
        return sorted((m for m in self.members.values() if m.is_active), key=lambda m: m.name)

    @property
    def colleagues(self) -> list[mentions.Colleague]:
        """Who a note can mention (conversations.mentions)."""
        return [mentions.Colleague(m.id, m.name, m.email) for m in self.active_members]

    @property
    def mention_teams(self) -> list[mentions.Team]:
        return [mentions.Team(t.id, t.name) for t in self.teams.values()]

    @property
    def assignable_members(self) -> list[Member]:
        """Who can own a conversation: active members allowed to answer it."""
        return [m for m in self.active_members if permissions.has(m, Permission.REPLY)]

    @property
    def channel_kinds(self) -> list[str]:
        return sorted({a.kind for a in self.accounts.values()})


# -- inbox --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    contact_name: str
    channel: str
    account_name: str
    assignee_name: str | None
    tags: list[str]
    promises: commitments_service.OpenCount | None = None

    @property
    def priority_label(self) -> str:
        return priority_label(self.conversation.priority)


def inbox_rows(
    session: Session, *, directory: Directory, conversations: Sequence[Conversation]
) -> list[InboxRow]:
    contacts = _by_id(session, Contact, (c.contact_id for c in conversations))
    ids = [c.id for c in conversations]
    tags = conversations_service.tags_for(session, conversation_ids=ids)
    promises = commitments_service.open_counts(session, conversation_ids=ids)
    rows = []
    for c in conversations:
        account = directory.accounts.get(c.brand_account_id)
        contact = contacts.get(c.contact_id) if c.contact_id is not None else None
        rows.append(
            InboxRow(
                conversation=c,
                contact_name=(contact.name if contact else "") or "Unknown contact",
                channel=account.kind if account else "",
                account_name=(account.display_name or account.handle) if account else "",
                assignee_name=(
                    directory.member_name(c.assignee_id) if c.assignee_id is not None else None
                ),
                tags=tags.get(c.id, []),
                promises=promises.get(c.id),
            )
        )
    return rows


# -- one conversation ---------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    message: Message
    author: str
    kind: str  # "inbound", "outbound" or "note": how the thread shows it
    # A note's text cut into plain pieces and the colleagues it mentions, shown apart.
    segments: tuple[mentions.Segment, ...] = ()

    @property
    def failed(self) -> bool:
        return self.message.delivery_state == DeliveryState.FAILED.value

    @property
    def time(self) -> datetime:
        return self.message.sent_at or self.message.created_at


@dataclass(frozen=True)
class TrailEntry:
    activity: Activity
    actor: str
    text: str


@dataclass(frozen=True)
class OtherConversation:
    conversation: Conversation
    channel: str


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    account: BrandAccount
    contact: Contact | None
    identities: list[ContactIdentity]
    others: list[OtherConversation]
    # Other customers who gave one of this one's addresses: likely the same person.
    likely: list[duplicates.Suggestion]
    tags: list[str]
    max_length: int | None
    reserved_length: int  # the signature appended to each reply
    length_counting: str
    can_send: bool  # a connector for this channel is installed
    may_act: bool  # this member may answer as the brand account
    # What replies on this channel may carry: files, how many, which and how large.
    files: Capabilities | None

    @cached_property
    def not_ready(self) -> str | None:
        """Why a reply from the account would be refused before it leaves (not set up yet).
        Worked out (credentials decrypted) only where the reply box reads it, not for every
        live refresh of the thread or the side panel."""
        return channels_service.send_problem(self.account)

    @property
    def channel(self) -> str:
        return self.account.kind

    @property
    def can_send_files(self) -> bool:
        return self.files is not None and self.files.files

    @property
    def max_files(self) -> int:
        """The most files a reply carries here: the desk's limit, or the channel's if lower
        (``outbound.check_files`` refuses more)."""
        own = self.files.max_files if self.files else None
        return min(outbound_service.MAX_REPLY_FILES, own or outbound_service.MAX_REPLY_FILES)

    @property
    def max_file_bytes(self) -> int:
        limit = get_settings().attachment_max_bytes
        own = self.files.max_file_bytes if self.files else None
        return min(limit, own or limit)

    @property
    def file_types(self) -> tuple[str, ...]:
        """The types the channel takes, as a file input's ``accept`` reads them ("image/*");
        empty: any."""
        found = self.files.file_types if self.files else ()
        return tuple(f"{t}*" if t.endswith("/") else t for t in found)

    @property
    def file_types_named(self) -> str:
        """The same, as people read them ("images"); empty: any."""
        return ", ".join(outbound_service.type_names(self.files.file_types if self.files else ()))

    @property
    def contact_name(self) -> str:
        return (self.contact.name if self.contact else "") or "Unknown contact"

    @property
    def title(self) -> str:
        return self.conversation.subject or self.conversation.last_preview or "Conversation"

    @property
    def is_resolved(self) -> bool:
        return self.conversation.status == Status.RESOLVED.value


def conversation_view(
    session: Session, *, conversation: Conversation, directory: Directory, me: Member
) -> ConversationView:
    account = directory.accounts.get(conversation.brand_account_id) or session.get(
        BrandAccount, conversation.brand_account_id
    )
    assert account is not None  # foreign key
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    identities = contacts_service.identities(session, contact_id=contact.id) if contact else []
    others = [
        OtherConversation(
            conversation=o,
            channel=(directory.accounts[o.brand_account_id].kind)
            if o.brand_account_id in directory.accounts
            else "",
        )
        for o in conversations_service.other_conversations_of_contact(
            session, conversation=conversation
        )
    ]
    try:
        capabilities: Capabilities | None = connectors.get(account.kind).capabilities
    except NotFound:
        # History imported for a channel whose connector is not installed here: readable,
        # but nothing can be sent through it.
        capabilities = None
    signature = outbound_service.signature_for(account, me)
    return ConversationView(
        conversation=conversation,
        account=account,
        contact=contact,
        identities=identities,
        others=others,
        likely=duplicates.suggestions(
            session,
            organization_id=conversation.organization_id,
            contact=contact,
            by_name=False,
            identities=identities,
        )
        if contact is not None
        else [],
        tags=conversations_service.tags_of(session, conversation_id=conversation.id),
        max_length=capabilities.max_length if capabilities else None,
        reserved_length=len(outbound_service.compose("", signature)) if signature else 0,
        length_counting=capabilities.length_counting.value if capabilities else "",
        can_send=capabilities is not None,
        may_act=channels_service.may_act_for(session, account=account, member_id=me.id),
        files=capabilities,
    )


def thread_views(
    session: Session, *, conversation: Conversation, directory: Directory
) -> list[MessageView]:
    messages = conversations_service.thread(session, conversation=conversation)
    contacts = _by_id(session, Contact, (m.author_contact_id for m in messages))
    account = directory.accounts.get(conversation.brand_account_id)
    brand = (account.display_name or account.handle) if account else "Brand"
    colleagues, teams = directory.colleagues, directory.mention_teams
    views = []
    for m in messages:
        if m.visibility == "note":
            kind = "note"
        elif m.direction == Direction.INBOUND.value:
            kind = "inbound"
        else:
            kind = "outbound"
        if m.author_member_id is not None:
            author = directory.member_name(m.author_member_id)
        elif m.author_contact_id is not None and m.author_contact_id in contacts:
            author = contacts[m.author_contact_id].name or "Customer"
        elif kind == "outbound":
            author = brand
        else:
            author = "Customer"
        segments: tuple[mentions.Segment, ...] = ()
        if kind == "note" and "@" in m.text:
            found = mentions.find(m.text, colleagues, teams)
            segments = tuple(mentions.segments(m.text, found))
        views.append(MessageView(message=m, author=author, kind=kind, segments=segments))
    return views


def _status_text(data: dict[str, Any]) -> str:
    to = str(data.get("to", ""))
    if to == Status.RESOLVED.value:
        return "resolved the conversation"
    if to == Status.SNOOZED.value:
        return "snoozed it"
    if to == Status.PENDING.value:
        return "marked it pending (waiting on the customer)"
    if to == Status.OPEN.value and data.get("from") in (Status.RESOLVED.value, None):
        return "reopened the conversation"
    if to == Status.OPEN.value and data.get("from") == Status.SNOOZED.value:
        return "woke it up"
    return f"changed the status from {data.get('from')} to {to}"


def _assigned(data: dict[str, Any], directory: Directory) -> str:
    if data.get("to") is None:
        return f"unassigned it (was {directory.member_name(data.get('from'))})"
    return f"assigned it to {directory.member_name(data.get('to'))}"


def _triaged(data: dict[str, Any], _directory: Directory) -> str:
    reasons = ", ".join(str(r) for r in data.get("reasons") or [])
    raised = f"raised the priority from {data.get('priority_from')} to {data.get('priority')}"
    return raised + (f": {reasons}" if reasons else "")


def _triage_corrected(data: dict[str, Any], _directory: Directory) -> str:
    field = data.get("field")
    if field == "complaint":
        label = "a complaint" if data.get("to") == "true" else "not a complaint"
        return f"marked message #{data.get('message_id')} as {label}"
    return (
        f"corrected the {field} of message #{data.get('message_id')}"
        f" from {data.get('from')} to {data.get('to')}"
    )


def _approval_decided(data: dict[str, Any], verb: str) -> str:
    edited = " with edits" if data.get("edited") else ""
    comment = f": {data['comment']}" if data.get("comment") else ""
    return f"{verb} the held reply{edited}{comment}"


def mention_names(
    directory: Directory, mentioned: conversations_service.Mentioned, *, but: int | None = None
) -> list[str]:
    """The colleagues (all but ``but``) and teams a note mentions, as the desk names them."""
    names = [directory.member_name(m) for m in mentioned.member_ids if m != but]
    return names + [f"the team {directory.team_name(t)}" for t in mentioned.team_ids]


def _note_added(data: dict[str, Any], directory: Directory) -> str:
    mentioned = conversations_service.Mentioned(
        data.get("mentioned", []), data.get("mentioned_teams", [])
    )
    names = mention_names(directory, mentioned)
    if not names:
        return "added an internal note"
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return f"added an internal note mentioning {listed}"


def _merged(data: dict[str, Any], _directory: Directory) -> str:
    merged = ", ".join(f"#{i}" for i in data.get("merged", []))
    return f"merged {merged} into this conversation"


# One line of the trail per activity kind; kinds added later fall back to a generic line.
_DESCRIBE: dict[str, Callable[[dict[str, Any], Directory], str]] = {
    "assigned": _assigned,
    "team_changed": lambda d, directory: f"moved it to {directory.team_name(d.get('to'))}",
    "priority_changed": lambda d, _: f"set priority to {d.get('to')}",
    "status_changed": lambda d, _: _status_text(d),
    "tagged": lambda d, _: f"tagged it #{d.get('tag')}",
    "untagged": lambda d, _: f"removed tag #{d.get('tag')}",
    "note_added": _note_added,
    "merged": _merged,
    "reopened_by_customer": lambda _d, _: "reopened: the customer wrote again",
    "follows": lambda d, _: f"follows conversation #{d.get('previous')}",
    "contact_merged": lambda d, _: (
        f"found the customer to be the same person as customer #{d.get('into')} "
        f"(was #{d.get('from')})"
    ),
    "contact_unmerged": lambda d, _: (
        f"found customer #{d.get('into')} not to be the same person as customer "
        f"#{d.get('from')}: the merge was undone"
    ),
    # Triage and the code of conduct's approvals
    "triaged": _triaged,
    "triage_corrected": _triage_corrected,
    "approval_requested": lambda d, _: (
        "wrote a reply that waits for approval"
        + (f" ({', '.join(str(r) for r in d['rules'])})" if d.get("rules") else "")
    ),
    "reply_withdrawn": lambda d, _: f"withdrew a reply: {d.get('reason')}",
    "reply_withdrawal_failed": lambda d, _: f"could not withdraw a reply: {d.get('reason')}",
    "approval_approved": lambda d, _: _approval_decided(d, "approved"),
    "approval_rejected": lambda d, _: _approval_decided(d, "rejected"),
    # Routing and automation
    "routed": lambda d, _: f"routed by the rules ({d.get('rules')})",
    "reassigned": lambda d, _: f"reassigned: {d.get('reason')}",
    "claimed": lambda _d, _: "claimed it",
    "automation": lambda d, _: f"automation “{d.get('rule')}”: {d.get('did')}",
    # Escalation requests
    "escalation_requested": lambda d, directory: (
        "asked "
        + (
            directory.member_name(d["member_id"])
            if d.get("member_id")
            else directory.team_name(d.get("team_id"))
        )
        + f": {d.get('text')}"
    ),
    "escalation_done": lambda d, _: (
        f"marked request #{d.get('request_id')} done"
        + (f": {d['resolution']}" if d.get("resolution") else "")
    ),
    "escalation_cancelled": lambda d, _: f"cancelled request #{d.get('request_id')}",
    "escalation_overdue": lambda d, _: f"request #{d.get('request_id')} is overdue",
    "escalation_handed_over": lambda d, directory: (
        f"request #{d.get('request_id')} went to "
        + (directory.member_name(d["to"]) if d.get("to") else directory.team_name(d.get("team_id")))
    ),
    # Promises
    "commitment_added": lambda d, _: f"made a promise: {d.get('text')}",
    "commitment_changed": lambda d, _: f"changed promise #{d.get('commitment_id')}",
    "commitment_closed": lambda d, _: f"closed a promise as {d.get('status')}: {d.get('evidence')}",
    "commitment_handed_over": lambda d, directory: (
        f"handed a promise of {directory.member_name(d.get('from'))} to "
        f"{directory.member_name(d.get('to'))} ({d.get('reason')})"
    ),
    "commitments_kept_open": lambda d, _: (
        f"resolved with {len(d.get('commitment_ids', []))} promise(s) still open"
    ),
    # Follow-ups
    "followup_sent": lambda _d, _: "sent the follow-up",
    "followup_skipped": lambda d, _: f"follow-up skipped: {d.get('reason')}",
    "followup_task": lambda d, _: f"follow-up left to a person: {d.get('reason')}",
    "followup_cancelled": lambda _d, _: "cancelled the follow-up",
    "followup_answered": lambda d, _: f"follow-up answered: {d.get('result')}",
    "followup_opt_out": lambda d, _: (
        "opted out of follow-ups" if d.get("opted_out") else "allowed follow-ups again"
    ),
}


def describe(activity: Activity, directory: Directory) -> str:
    """One line of the trail, in words."""
    data = activity.data or {}
    handler = _DESCRIBE.get(activity.kind)
    if handler is not None:
        return handler(data, directory)
    details = ", ".join(f"{k}: {v}" for k, v in sorted(data.items()))
    return activity.kind.replace("_", " ") + (f" ({details})" if details else "")


def trail(
    session: Session, *, conversation: Conversation, directory: Directory
) -> list[TrailEntry]:
    activities = conversations_service.activities(session, conversation=conversation)
    return [
        TrailEntry(
            activity=a,
            actor=directory.member_name(a.actor_member_id)
            if a.actor_member_id is not None
            else "socialdesk",
            text=describe(a, directory),
        )
        for i, a in enumerate(activities)
        if not _said_by_the_claim(a, activities[i + 1] if i + 1 < len(activities) else None)
    ]


def _said_by_the_claim(activity: Activity, after: Activity | None) -> bool:
    """A claim is recorded as the assignment it makes and then the claim: the trail says
    "claimed it" once, not also "assigned it to" the same person."""
    return (
        activity.kind == "assigned"
        and after is not None
        and after.kind == "claimed"
        and activity.actor_member_id is not None
        and activity.actor_member_id == after.actor_member_id
        and (activity.data or {}).get("to") == activity.actor_member_id
    )


# -- triage -------------------------------------------------------------------------------

# The values each correctable label may take, in the order the correction menus offer them.
TRIAGE_CHOICES: dict[str, tuple[str, ...]] = {
    "intent": ("complaint", "question", "praise", "feedback", "idea", "other"),
    "sentiment": ("negative", "neutral", "positive"),
    "complaint": ("true", "false"),
    "priority": ("low", "normal", "high", "urgent"),
}


@dataclass(frozen=True)
class Score:
    label: str
    value: float

    @property
    def percent(self) -> str:
        return f"{self.value * 100:.0f}%"


@dataclass(frozen=True)
class TriageView:
    """What triage said about one inbound message, and why, as the thread shows it."""

    row: MessageTriage
    reasons: list[str]
    scores: list[tuple[str, list[Score]]]  # (label name, its scores, best first)

    def current(self, field: str) -> str:
        value = getattr(self.row, field)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def _scores(raw: object, name: str) -> list[Score]:
    if isinstance(raw, dict):
        pairs = [(str(k), v) for k, v in raw.items() if isinstance(v, int | float)]
        return sorted((Score(k, float(v)) for k, v in pairs), key=lambda s: -s.value)
    if isinstance(raw, int | float):
        # A single figure (complaint, language) is the confidence in the label shown.
        return [Score(name, float(raw))]
    return []


def triage_view(row: MessageTriage) -> TriageView:
    raw = row.scores if isinstance(row.scores, dict) else {}
    # The complaint figure is the chance that it is one; the language figure is the confidence
    # in the language detected, so it reads "en 92%", not "language 92%".
    labels = {"complaint": "complaint", "language": str(row.language or "language")}
    scores = [
        (name, _scores(raw.get(name), labels.get(name, name)))
        for name in ("sentiment", "complaint", "intent", "language")
    ]
    return TriageView(
        row=row,
        reasons=[str(r) for r in (row.reasons or [])],
        scores=[(name, found) for name, found in scores if found],
    )


def triage_views(session: Session, *, conversation: Conversation) -> dict[int, TriageView]:
    """Triage results of the conversation's messages, by message id, in one query."""
    stmt = (
        select(MessageTriage)
        .join(Message, Message.id == MessageTriage.message_id)
        .where(
            Message.conversation_id == conversation.id,
            MessageTriage.organization_id == conversation.organization_id,
        )
    )
    return {row.message_id: triage_view(row) for row in session.scalars(stmt)}


def organization(session: Session, organization_id: int) -> Organization:
    return accounts_service.get_organization(session, organization_id)


def layout_context(session: Session, actor: Actor) -> dict[str, Any]:
    """What the shared layout needs on every signed-in page: who is signed in, the
    organization and its time zone, the forms' CSRF token and what the member may do."""
    org = organization(session, actor.organization_id)
    return {
        "me": actor.member,
        "org": org,
        "tz": zone(org.timezone),
        "csrf_token": actor.csrf_token or "",
        "can": Permissions.of(actor.member),
    }
