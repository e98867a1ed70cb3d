"""Parsing what the desk's forms and query strings send into the values services take.

Every error names the field and what was expected, so the page can show it beside the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from socialdesk.common import clock
from socialdesk.common.errors import DomainError, NotAuthenticated, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID, parse_row_id
from socialdesk.config import get_settings
from socialdesk.connectors.base import Attachment
from socialdesk.conversations import attachments
from socialdesk.conversations.models import Priority, Status
from socialdesk.outbound.service import NeedsConfirmation
from socialdesk.web.render import UNPROCESSABLE


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


def plain_text(value: str) -> str:
    """A text box's text as the desk keeps it: a browser sends a textarea's lines with CRLF,
    and surrounding space means nothing."""
    return value.replace("\r\n", "\n").strip()


def uploads(form: FormData, name: str) -> list[Attachment]:
    """The files posted in ``name``, in the order chosen. A file input left empty (the browser
    posts a part with no file name) is no file; one larger than the desk keeps is refused, by
    its name, before it is read."""
    limit = get_settings().attachment_max_bytes
    found: list[Attachment] = []
    for value in form.getlist(name):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        if value.size is not None and value.size > limit:
            raise ValidationFailed(
                f"{value.filename} is {value.size:,} bytes; a file is at most {limit:,} bytes "
                "(SOCIALDESK_ATTACHMENT_MAX_BYTES)",
                field=name,
            )
        value.file.seek(0)
        content = value.file.read(limit + 1)
        found.append(attachments.posted(value.filename, content, mime_type=value.content_type))
    return found


def same_text(confirmed: str, text: str) -> bool:
    """Whether ``text`` is the text whose warnings were confirmed (``confirmed``, sent back by
    the form that showed them), line endings and surrounding space aside. A draft changed after
    its warnings were read is checked again, so no new wording goes out unseen."""
    return bool(confirmed) and plain_text(confirmed) == plain_text(text)


def optional_id(form: Mapping[str, object], name: str) -> int | None:
    """An id from a select: empty means none."""
    raw = text(form, name)
    return parse_row_id(raw, name) if raw else None


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
