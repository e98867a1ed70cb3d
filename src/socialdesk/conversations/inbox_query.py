"""The inbox's filters as one value: read from a query string (the address bar's, a saved
view's), validated with the field named in every error, written back in one canonical form,
turned into the service's ``InboxFilter``, and read a page at a time (``page``). The web
inbox, saved views and their API read the same query through here, so a view saved in the
desk opens the same way everywhere. ``check`` also makes sure that the member, team and brand
account a query names are the organization's, as a view must before it is kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import parse_qsl, urlencode

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Team
from socialdesk.channels.models import BrandAccount
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import Page, parse_row_id
from socialdesk.conversations.models import Conversation, Priority, Status
from socialdesk.conversations.service import (
    AWAITING,
    STATUS_ALL,
    AssigneeFilter,
    InboxFilter,
    Sort,
    check_assignee,
    list_inbox_sorted,
)

STATUS_CHOICES: tuple[str, ...] = (*(s.value for s in Status), STATUS_ALL)
ASSIGNEE_CHOICES: tuple[str, ...] = tuple(a.value for a in AssigneeFilter)
# Triage filters and the inbox's order (the labels triage gives; see triage/service.py LABELS).
INTENT_CHOICES: tuple[str, ...] = ("complaint", "question", "praise", "feedback", "idea", "other")
SENTIMENT_CHOICES: tuple[str, ...] = ("negative", "neutral", "positive")
PRIORITY_CHOICES: tuple[str, ...] = tuple(p.name.lower() for p in Priority)
SORT_CHOICES: tuple[str, ...] = tuple(s.value for s in Sort)


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's filters as the page shows them (strings), and as the service takes them."""

    status: str = Status.OPEN.value
    assignee: str = AssigneeFilter.ANYONE.value  # one of ASSIGNEE_CHOICES, or a member's id
    channel: str = ""  # "", "kind:<channel>" or "account:<id>"
    team: str = ""
    tag: str = ""
    q: str = ""
    intent: str = ""
    sentiment: str = ""
    complaint: str = ""  # "" or "1": complaints only
    min_priority: str = ""  # "" or a priority name
    awaiting: str = ""  # "", "reply" or "customer"
    sort: str = Sort.RECENT.value

    def to_filter(self) -> InboxFilter:
        channel: str | None = None
        brand_account_id: int | None = None
        if self.channel.startswith("kind:"):
            channel = self.channel.removeprefix("kind:") or None
        elif self.channel.startswith("account:"):
            brand_account_id = parse_row_id(self.channel.removeprefix("account:"), "channel")
        elif self.channel:
            raise ValidationFailed(
                f"channel must be a channel or an account, not {self.channel!r}", field="channel"
            )
        return InboxFilter(
            status=self.status,
            brand_account_id=brand_account_id,
            channel=channel,
            assignee=self.member_id or AssigneeFilter(self.assignee),
            team_id=parse_row_id(self.team, "team") if self.team else None,
            tag=self.tag or None,
            query=self.q or None,
            intent=self.intent or None,
            sentiment=self.sentiment or None,
            complaint=True if self.complaint else None,
            min_priority=Priority[self.min_priority.upper()].value if self.min_priority else None,
            awaiting=self.awaiting or None,
        )

    def params(self, **override: str) -> dict[str, str]:
        """The non-default filters, as query parameters (links keep the other filters)."""
        values = {
            "status": self.status,
            "assignee": self.assignee,
            "channel": self.channel,
            "team": self.team,
            "tag": self.tag,
            "q": self.q,
            "intent": self.intent,
            "sentiment": self.sentiment,
            "complaint": self.complaint,
            "min_priority": self.min_priority,
            "awaiting": self.awaiting,
            "sort": self.sort,
            **override,
        }
        defaults = InboxQuery()
        return {k: v for k, v in values.items() if v and v != getattr(defaults, k, None)}

    def query_string(self, **override: str) -> str:
        return urlencode(self.params(**override))

    @property
    def is_default(self) -> bool:
        return self == InboxQuery()

    @property
    def member_id(self) -> int | None:
        """The colleague whose conversations the query shows, when it names one."""
        if self.assignee in ASSIGNEE_CHOICES:
            return None
        return parse_row_id(self.assignee, "assignee")


# The filters' names, as the address bar and a saved view's filters spell them.
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(InboxQuery))


def parse(params: Mapping[str, str]) -> InboxQuery:
    """Read the inbox filters from a query string. Unknown status or assignee values are errors
    that say what is allowed."""
    status = (params.get("status") or Status.OPEN.value).strip().lower()
    if status not in STATUS_CHOICES:
        raise ValidationFailed(
            f"status must be one of {', '.join(STATUS_CHOICES)}, not {status!r}", field="status"
        )
    assignee = _assignee(_last_given(params, "assignee"))
    query = InboxQuery(
        status=status,
        intent=_choice(params, "intent", INTENT_CHOICES),
        sentiment=_choice(params, "sentiment", SENTIMENT_CHOICES),
        complaint="1" if (params.get("complaint") or "").strip() in ("1", "true", "on") else "",
        min_priority=_choice(params, "min_priority", PRIORITY_CHOICES),
        awaiting=_choice(params, "awaiting", AWAITING),
        sort=_choice(params, "sort", SORT_CHOICES) or Sort.RECENT.value,
        assignee=assignee,
        channel=(params.get("channel") or "").strip(),
        team=(params.get("team") or "").strip(),
        tag=(params.get("tag") or "").strip().lstrip("#"),
        q=(params.get("q") or "").strip()[:200],
    )
    query.to_filter()  # validate the rest now, with field names
    return query


def _last_given(params: Mapping[str, str], name: str) -> str:
    """The last value of ``name`` that is not empty. The filter bar sends the assignee twice
    when one of its choices and its colleague are both set: the colleague, sent last, wins, and
    left empty it leaves the choice."""
    getlist = getattr(params, "getlist", None)  # a query string's every value (Starlette's)
    values: list[str] = getlist(name) if callable(getlist) else [params.get(name) or ""]
    return next((v.strip() for v in reversed(values) if v.strip()), "")


def _assignee(raw: str) -> str:
    """One of ASSIGNEE_CHOICES, or a member's id written the one way."""
    assignee = raw.lower() or AssigneeFilter.ANYONE.value
    if assignee in ASSIGNEE_CHOICES:
        return assignee
    # isdigit() alone also takes "²", which int() refuses.
    if assignee.isascii() and assignee.isdigit():
        return str(parse_row_id(assignee, "assignee"))
    raise ValidationFailed(
        f"assignee must be one of {', '.join(ASSIGNEE_CHOICES)} or a member's id, not {assignee!r}",
        field="assignee",
    )


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``, or "" when the field is empty."""
    raw = (params.get(name) or "").strip().lower()
    if raw and raw not in allowed:
        raise ValidationFailed(
            f"{name} must be one of {', '.join(allowed)}, not {raw!r}", field=name
        )
    return raw


def parse_string(raw: str) -> InboxQuery:
    """Read the inbox filters from a query string as the address bar shows it
    (``"status=all&complaint=1"``, with or without the leading ``?``)."""
    return parse(dict(parse_qsl(raw.strip().removeprefix("?"))))


def check(session: Session, query: InboxQuery, *, organization_id: int) -> InboxQuery:
    """``query``, once the member, team and brand account it names are the organization's. An
    id of another organization's, or of nothing, is refused naming its filter: a view must not
    keep a filter that shows nothing (or, were it another organization's, anything)."""
    flt = query.to_filter()
    check_assignee(session, organization_id=organization_id, assignee=flt.assignee)
    if flt.team_id is not None:
        team = session.get(Team, flt.team_id)
        if team is None or team.organization_id != organization_id:
            raise ValidationFailed(
                f"team {flt.team_id} is not one of this organization's teams", field="team"
            )
    if flt.brand_account_id is not None:
        account = session.get(BrandAccount, flt.brand_account_id)
        if account is None or account.organization_id != organization_id:
            raise ValidationFailed(
                f"channel account:{flt.brand_account_id} is not one of this organization's "
                "brand accounts",
                field="channel",
            )
    return query


def page(
    session: Session,
    query: InboxQuery,
    *,
    organization_id: int,
    me_id: int,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Conversation]:
    """The conversations ``query`` shows, in its order: the web inbox's and a saved view's."""
    return list_inbox_sorted(
        session,
        sort=Sort(query.sort),
        organization_id=organization_id,
        me_id=me_id,
        flt=query.to_filter(),
        cursor=cursor,
        limit=limit,
    )
