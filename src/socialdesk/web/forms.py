"""Parsing what the desk's forms and query strings send into the values services take.

Every error names the field and what was expected, so the page can show it beside the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.common import clock
from socialdesk.common.errors import DomainError, NotAuthenticated, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.conversations.models import Priority, Status
from socialdesk.conversations.service import AWAITING, STATUS_ALL, AssigneeFilter, InboxFilter
from socialdesk.outbound.service import NeedsConfirmation
from socialdesk.web.render import UNPROCESSABLE

STATUS_CHOICES: tuple[str, ...] = (*(s.value for s in Status), STATUS_ALL)
ASSIGNEE_CHOICES: tuple[str, ...] = tuple(a.value for a in AssigneeFilter)
# Triage filters and the inbox's order (the labels triage gives; see triage/service.py LABELS).
INTENT_CHOICES: tuple[str, ...] = ("complaint", "question", "praise", "feedback", "idea", "other")
SENTIMENT_CHOICES: tuple[str, ...] = ("negative", "neutral", "positive")
PRIORITY_CHOICES: tuple[str, ...] = tuple(p.name.lower() for p in Priority)
SORT_RECENT = "recent"
SORT_PRIORITY = "priority"
SORT_SLA = "sla"
SORT_CHOICES: tuple[str, ...] = (SORT_RECENT, SORT_PRIORITY, SORT_SLA)


async def _read_form(request: Request) -> FormData:
    """The posted form, read on the event loop (Starlette keeps it for the request), so that
    the route itself can be a plain ``def``: FastAPI runs those in its thread pool, where
    waiting for the database's write lock blocks nobody else."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_read_form)]


def text(form: Mapping[str, object], name: str, *, default: str = "") -> str:
    """A text field; uploads and missing fields read as the default."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def optional_id(form: Mapping[str, object], name: str) -> int | None:
    """An id from a select: empty means none."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a number, not {raw!r}", field=name) from None
    if value < 1:
        raise ValidationFailed(f"{name} must be a positive number", field=name)
    if value > MAX_ROW_ID:  # the databases cannot even look such an id up
        raise ValidationFailed(f"{name} {raw!r} names nothing in the list", field=name)
    return value


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's filters as the page shows them (strings), and as the service takes them."""

    status: str = Status.OPEN.value
    assignee: str = AssigneeFilter.ANYONE.value
    channel: str = ""  # "", "kind:<channel>" or "account:<id>"
    team: str = ""
    tag: str = ""
    q: str = ""
    intent: str = ""
    sentiment: str = ""
    complaint: str = ""  # "" or "1": complaints only
    min_priority: str = ""  # "" or a priority name
    awaiting: str = ""  # "", "reply" or "customer"
    sort: str = SORT_RECENT

    def to_filter(self) -> InboxFilter:
        channel: str | None = None
        brand_account_id: int | None = None
        if self.channel.startswith("kind:"):
            channel = self.channel.removeprefix("kind:") or None
        elif self.channel.startswith("account:"):
            brand_account_id = _positive(self.channel.removeprefix("account:"), "channel")
        elif self.channel:
            raise ValidationFailed(
                f"channel must be a channel or an account, not {self.channel!r}", field="channel"
            )
        return InboxFilter(
            status=self.status,
            brand_account_id=brand_account_id,
            channel=channel,
            assignee=AssigneeFilter(self.assignee),
            team_id=_positive(self.team, "team") if self.team else None,
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


def _positive(raw: str, field: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{field} must be a number, not {raw!r}", field=field) from None
    if value < 1:
        raise ValidationFailed(f"{field} must be a positive number", field=field)
    return value


def inbox_query(params: Mapping[str, str]) -> InboxQuery:
    """Read the inbox filters from a query string. Unknown status or assignee values are errors
    that say what is allowed."""
    status = (params.get("status") or Status.OPEN.value).strip().lower()
    if status not in STATUS_CHOICES:
        raise ValidationFailed(
            f"status must be one of {', '.join(STATUS_CHOICES)}, not {status!r}", field="status"
        )
    assignee = (params.get("assignee") or AssigneeFilter.ANYONE.value).strip().lower()
    if assignee not in ASSIGNEE_CHOICES:
        raise ValidationFailed(
            f"assignee must be one of {', '.join(ASSIGNEE_CHOICES)}, not {assignee!r}",
            field="assignee",
        )
    query = InboxQuery(
        status=status,
        intent=_choice(params, "intent", INTENT_CHOICES),
        sentiment=_choice(params, "sentiment", SENTIMENT_CHOICES),
        complaint="1" if (params.get("complaint") or "").strip() in ("1", "true", "on") else "",
        min_priority=_choice(params, "min_priority", PRIORITY_CHOICES),
        awaiting=_choice(params, "awaiting", AWAITING),
        sort=_choice(params, "sort", SORT_CHOICES) or SORT_RECENT,
        assignee=assignee,
        channel=(params.get("channel") or "").strip(),
        team=(params.get("team") or "").strip(),
        tag=(params.get("tag") or "").strip().lstrip("#"),
        q=(params.get("q") or "").strip()[:200],
    )
    query.to_filter()  # validate the rest now, with field names
    return query


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``, or "" when the field is empty."""
    raw = (params.get(name) or "").strip().lower()
    if raw and raw not in allowed:
        raise ValidationFailed(
            f"{name} must be one of {', '.join(allowed)}, not {raw!r}", field=name
        )
    return raw


def triage_label(form: Mapping[str, object]) -> tuple[str, str]:
    """The field and value of a one-click triage correction (the service checks the values)."""
    field = text(form, "field").lower()
    value = text(form, "value").lower()
    if not field:
        raise ValidationFailed("say which label to correct", field="field")
    if not value:
        raise ValidationFailed(f"choose the right {field}", field="value")
    return field, value


def priority(form: Mapping[str, object]) -> Priority:
    raw = text(form, "priority").lower()
    for p in Priority:
        if raw in (p.name.lower(), str(p.value)):
            return p
    allowed = ", ".join(p.name.lower() for p in Priority)
    raise ValidationFailed(f"priority must be one of {allowed}, not {raw!r}", field="priority")


MANUAL_STATUSES = (Status.OPEN, Status.PENDING, Status.RESOLVED)


def manual_status(form: Mapping[str, object]) -> Status:
    raw = text(form, "status").lower()
    for s in MANUAL_STATUSES:
        if raw == s.value:
            return s
    if raw == Status.SNOOZED.value:
        raise ValidationFailed("snoozing needs a time: use the snooze form", field="status")
    allowed = ", ".join(s.value for s in MANUAL_STATUSES)
    raise ValidationFailed(f"status must be one of {allowed}, not {raw!r}", field="status")


# -- snooze -------------------------------------------------------------------------------

WORKDAY_START = time(9, 0)


@dataclass(frozen=True)
class SnoozePreset:
    value: str
    label: str


SNOOZE_PRESETS: tuple[SnoozePreset, ...] = (
    SnoozePreset("1h", "1 hour"),
    SnoozePreset("4h", "4 hours"),
    SnoozePreset("tomorrow", "Tomorrow 09:00"),
    SnoozePreset("monday", "Next Monday 09:00"),
    SnoozePreset("week", "In a week"),
)


def _at_local(day: datetime, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=tz)


def snooze_until(
    form: Mapping[str, object], *, tz: tzinfo, now: datetime | None = None
) -> datetime:
    """The wake-up time from a preset button or the date-time field (read in the organization's
    time zone). Returns an aware UTC-comparable datetime; the service checks it is in the future."""
    now = now or clock.now()
    local_now = now.astimezone(tz)
    preset = text(form, "preset")
    if preset and preset != "custom":
        if preset == "1h":
            return now + timedelta(hours=1)
        if preset == "4h":
            return now + timedelta(hours=4)
        if preset == "tomorrow":
            return _at_local(local_now + timedelta(days=1), WORKDAY_START, tz)
        if preset == "monday":
            days = (7 - local_now.weekday()) % 7 or 7
            return _at_local(local_now + timedelta(days=days), WORKDAY_START, tz)
        if preset == "week":
            return now + timedelta(days=7)
        allowed = ", ".join(p.value for p in SNOOZE_PRESETS)
        raise ValidationFailed(
            f"snooze preset must be one of {allowed}, not {preset!r}", field="until"
        )
    raw = text(form, "until")
    if not raw:
        raise ValidationFailed("choose when to wake this conversation up", field="until")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{raw!r} is not a date and time (expected YYYY-MM-DDTHH:MM)", field="until"
        ) from None
    if parsed.tzinfo is None:
        # A browser's datetime-local field has no zone: it is the desk's local time.
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def local_input_value(value: datetime, tz: tzinfo) -> str:
    """A datetime-local field's value (no seconds, no zone) in the organization's zone."""
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


# -- reports ------------------------------------------------------------------------------


def optional_date(params: Mapping[str, object], name: str) -> date | None:
    """A day like 2026-01-31 (a report's start or end); empty means none."""
    raw = text(params, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} {raw!r} is not a date like 2026-01-31", field=name
        ) from None


class DatedReport(Protocol):
    @property
    def start(self) -> date: ...
    @property
    def end(self) -> date: ...


def report_range(request: Request, build: Callable[[], DatedReport]) -> tuple[dict[str, Any], int]:
    """What a report page shows of the report ``build`` makes for the ``start`` and ``end`` of
    its query string, and the page's status. A range that does not read is shown as typed with
    the error (422); a bound left out shows the day the report chose."""
    try:
        found: DatedReport | None = build()
        error = None
    except ValidationFailed as exc:
        found, error = None, exc.message
    params = request.query_params
    context = {
        "report": found,
        "error": error,
        "start": params.get("start", found.start.isoformat() if found else ""),
        "end": params.get("end", found.end.isoformat() if found else ""),
    }
    return context, UNPROCESSABLE if error else 200


# -- redirects ----------------------------------------------------------------------------


def safe_next(raw: str | None, default: str = "/") -> str:
    """Only local paths: never another host (an open redirect), a scheme or a path that a
    browser would read as one (``//host``, ``/\\host``)."""
    if not raw:
        return default
    candidate = raw.strip()
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return default
    if any(ch in candidate for ch in "\r\n\t\\"):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return default
    return candidate


# -- ids in a page's path -----------------------------------------------------------------

# A row id in a page's path (/conversations/{conversation_id}...). One that is not a number, or
# is past a 64-bit row id (which the databases cannot even look up), names no page: the app
# answers with the page-not-found page instead of failing in the database.
PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def opened_from(request: Request) -> int | None:
    """The conversation a page was opened from (``?conversation=ID``), for the way back; any
    other value is no conversation (never a link built from what was typed)."""
    value = request.query_params.get("conversation", "")
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_ROW_ID else None


# -- a service's refusal, beside its form -------------------------------------------------


@dataclass(frozen=True)
class FormError:
    """A service's refusal, shown beside the form named ``form``."""

    form: str
    message: str
    field: str | None = None
    confirm: bool = False  # the author may send anyway (a warning, not a block)


def attempt(db: Session, form_name: str, action: Callable[[], object]) -> FormError | None:
    """Run one service call; a refusal is rolled back and returned for the form to show.
    Role and CSRF checks ran before the handler, so a refusal here is about this action (a
    brand account you may not answer for, say) and belongs beside the form."""
    try:
        action()
    except NotAuthenticated:
        raise
    except DomainError as exc:
        db.rollback()
        confirm = isinstance(exc, NeedsConfirmation)
        return FormError(form=form_name, message=exc.message, field=exc.field, confirm=confirm)
    db.flush()
    return None
