"""Shared rendering for the desk and the visitor chat: one Jinja environment, filters that show
times in the organization's time zone, and the response helpers every page uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from socialdesk import __version__
from socialdesk.common import clock
from socialdesk.conversations.service import count_label

TEMPLATES_DIR = Path(__file__).parent / "templates"
UNPROCESSABLE = 422

# The desk must never be framed by another site (clickjacking); the visitor chat page must be,
# because the widget shows it in an iframe on the brand's own website.
DESK_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
CHAT_HEADERS = {
    "Content-Security-Policy": "frame-ancestors *",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def zone(name: str | None) -> tzinfo:
    """The organization's zone; an unknown name (a typo in settings) falls back to UTC rather
    than breaking every page."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _tz(context: Context) -> tzinfo:
    value = context.get("tz")
    return value if isinstance(value, tzinfo) else UTC


@pass_context
def local(context: Context, value: datetime | None, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A full local time, for titles and the trail."""
    if value is None:
        return ""
    return value.astimezone(_tz(context)).strftime(fmt)


@pass_context
def short_time(context: Context, value: datetime | None) -> str:
    """Compact time for lists: the hour today, the weekday this week, the date before that."""
    if value is None:
        return ""
    tz = _tz(context)
    here = value.astimezone(tz)
    today = clock.now().astimezone(tz).date()
    age_days = (today - here.date()).days
    if age_days == 0:
        return here.strftime("%H:%M")
    if 0 < age_days < 7:
        return here.strftime("%a %H:%M")
    if here.year == today.year:
        return here.strftime("%d %b")
    return here.strftime("%d %b %Y")


@pass_context
def time_tag(context: Context, value: datetime | None) -> Markup:
    """A <time> element: short text, full local time on hover, ISO for machines."""
    if value is None:
        return Markup("")
    return Markup('<time datetime="{iso}" title="{full}">{short}</time>').format(
        iso=value.astimezone(UTC).isoformat(),
        full=local(context, value),
        short=short_time(context, value),
    )


def duration_words(seconds: float) -> str:
    """A short span for people: "45s", "12m", "3h 05m", "2d 4h"."""
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


@pass_context
def sla_chip(context: Context, due: datetime | None, warn_seconds: float = 900) -> Markup:
    """Time left until the earliest SLA due time, or how long it is overdue. The element
    carries the due instant, so the page's script keeps it counting without a reload."""
    if due is None:
        return Markup("")
    left = (due - clock.now()).total_seconds()
    if left < 0:
        state, text = "overdue", f"overdue {duration_words(left)}"
    elif left <= warn_seconds:
        state, text = "soon", f"{duration_words(left)} left"
    else:
        state, text = "ok", f"{duration_words(left)} left"
    return Markup(
        '<span class="chip chip-sla chip-sla-{state}" data-sla-due="{iso}" title="SLA due {full}">'
        '<span class="visually-hidden">SLA: </span><span class="sla-left">{text}</span></span>'
    ).format(state=state, iso=due.astimezone(UTC).isoformat(), full=local(context, due), text=text)


def to_json(value: Any) -> Markup:
    """JSON safe to put inside an HTML attribute value (autoescaping escapes the quotes)."""
    return Markup.escape(json.dumps(value, separators=(",", ":")))


LIVE_DELAY = "delay:250ms"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local
    env.filters["short_time"] = short_time
    env.filters["time_tag"] = time_tag
    env.filters["sla_chip"] = sla_chip
    env.filters["tojson_attr"] = to_json
    env.filters["count_label"] = count_label
    env.globals["version"] = __version__
    # How long a live refresh waits after its event: a reply sent makes a burst of events (the
    # message, then its delivery queued, sending, sent), and each part of the conversation page
    # refreshes once after the last of them instead of once per event, each aborting the last.
    env.globals["live_delay"] = LIVE_DELAY
    return env


def render_text(template: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    framable: bool = False,
) -> HTMLResponse:
    body = render_text(template, {"request": request, **context})
    merged = dict(CHAT_HEADERS if framable else DESK_HEADERS)
    merged.update(headers or {})
    return HTMLResponse(body, status_code=status_code, headers=merged)


def is_htmx(request: Request) -> bool:
    """An HTMX request that wants a fragment (a history restore wants the whole page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def panel_answer(
    request: Request,
    *,
    conversation_id: int,
    failed: bool,
    panel: str,
    page: str,
    context: Callable[[], Mapping[str, Any]],
) -> Response:
    """The answer to a form in one of a conversation's side panels. With HTMX: the panel
    (``panel``), status 422 if the form failed. Without JavaScript the panel is not on the
    conversation's page: back to that page, or on a failure the panel alone on a page of its
    own (``page``) with the error."""
    if not is_htmx(request):
        if not failed:
            return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)
        return render(request, page, context(), status_code=UNPROCESSABLE)
    return render(request, panel, context(), status_code=UNPROCESSABLE if failed else 200)
