"""The desk page of the topics report: what customers of the last hour, day or week talk about
more than usual.

Thin like the rest of the web layer: the query string is read into the period and filters the
API takes, the topics service does the work, and a refusal is shown beside the form with status
422 (the page still shows the form, as the other reports do).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import permissions
from socialdesk.accounts.permissions import Permission
from socialdesk.common import spreadsheet
from socialdesk.common.deps import DB, Actor, Reader
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations.inbox_query import InboxQuery
from socialdesk.topics import service
from socialdesk.triage.classify import INTENTS, SENTIMENTS
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

# The periods the page offers, as the query string names them, in minutes.
PERIODS: dict[str, int] = {"1h": 60, "6h": 6 * 60, "24h": 24 * 60, "7d": 7 * 24 * 60}
PERIOD_LABELS: dict[str, str] = {
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
}
DEFAULT_PERIOD = "24h"
CHOICE_FILTERS = ("intent", "sentiment", "channel")


def period_minutes(params: Mapping[str, str]) -> int:
    """The chosen period in minutes; an unknown one is refused with the ones there are."""
    raw = (params.get("period") or DEFAULT_PERIOD).strip().lower()
    if raw not in PERIODS:
        raise ValidationFailed(
            f"period must be one of {', '.join(PERIODS)}, not {raw!r}", field="period"
        )
    return PERIODS[raw]


def filters_of(params: Mapping[str, str]) -> dict[str, Any]:
    """The filters as the service takes them; the service checks their values."""
    out: dict[str, Any] = {}
    if (params.get("complaint") or "").strip().lower() in ("1", "true", "on"):
        out["complaint"] = True
    for key in CHOICE_FILTERS:
        value = (params.get(key) or "").strip().lower()
        if value:
            out[key] = value
    return out


def inbox_search(term: str, filters: Mapping[str, Any]) -> str:
    """The inbox searching every conversation for ``term``, under the report's filters."""
    channel = filters.get("channel")
    query = InboxQuery(
        status="all",
        q=term,
        complaint="1" if filters.get("complaint") else "",
        intent=filters.get("intent", ""),
        sentiment=filters.get("sentiment", ""),
        channel=f"kind:{channel}" if channel else "",
    )
    return f"/?{query.query_string()}"


def watch_link(term: str, filters: Mapping[str, Any]) -> str:
    """A new volume alert on ``term`` under the report's filters, for those who keep alerts."""
    query: dict[str, str] = {"name": f"Talk of “{term}”", "words": term}
    if filters.get("complaint"):
        query["complaint"] = "1"
    for key in CHOICE_FILTERS:
        if filters.get(key):
            query[key] = str(filters[key])
    return "/admin/alerts/new?" + urlencode(query)


def percent(value: float | None) -> str:
    """A share for people: "38%", small ones with a decimal ("2.5%"), "—" for none."""
    if value is None:
        return "—"
    shown = value * 100
    if shown == 0 or shown >= 10:
        return f"{round(shown)}%"
    if shown < 0.05:  # one customer in thousands: not nothing
        return "<0.1%"
    return f"{shown:.1f}%".replace(".0%", "%")


def lift_words(topic: service.Topic) -> str:
    """How many times its usual share, behind a multiplication sign; "new" when no one used
    it before."""
    if topic.usual_share is None or topic.lift is None:
        return "—"
    if topic.usual_share == 0:
        return "new"
    return f"×{topic.lift:.1f}"  # noqa: RUF001 - the multiplication sign is meant


def _shown(
    request: Request, db: Session, actor: Actor
) -> tuple[service.Report | None, ValidationFailed | None]:
    params = request.query_params
    try:
        found = service.report(
            db,
            organization_id=actor.organization_id,
            minutes=period_minutes(params),
            filters=filters_of(params),
        )
    except ValidationFailed as exc:
        return None, exc
    return found, None


@router.get("/reports/topics.csv")
def topics_csv(request: Request, actor: Reader, db: DB) -> Response:
    found, error = _shown(request, db, actor)
    if found is None:
        message = error.message if error else "the report could not be made"
        return Response(message, status_code=UNPROCESSABLE, media_type="text/plain")
    stamp = found.period.end.strftime("%Y%m%d-%H%M")
    return spreadsheet.download(service.to_csv(found), f"topics-{stamp}.csv")


@router.get("/reports/topics")
def topics_page(request: Request, actor: Reader, db: DB) -> Response:
    found, error = _shown(request, db, actor)
    params = request.query_params
    typed = filters_of(params)  # shown as chosen, a refused value too
    values = {
        "period": (params.get("period") or DEFAULT_PERIOD).strip().lower(),
        "complaint": bool(typed.get("complaint")),
        **{key: typed.get(key, "") for key in CHOICE_FILTERS},
    }
    can_watch = permissions.has(actor.member, Permission.ROUTING_MANAGE)
    usual_days = round((found.usual.end - found.usual.start) / timedelta(days=1)) if found else None
    return render(
        request,
        "topics/report.html",
        {
            **page_context(db, actor),
            "report": found,
            "error": error.message if error else None,
            "error_field": error.field if error else None,
            "values": values,
            "periods": PERIOD_LABELS,
            "intents": INTENTS,
            "sentiments": SENTIMENTS,
            "channels": [(kind.value, vm.channel_label(kind.value)) for kind in ChannelKind],
            "usual_days": usual_days,
            "min_usual": service.MIN_USUAL,
            "inbox_search": inbox_search,
            "watch_link": watch_link if can_watch else None,
            "percent": percent,
            "lift_words": lift_words,
            "csv_link": "/reports/topics.csv?" + urlencode(list(params.multi_items())),
        },
        status_code=UNPROCESSABLE if error else 200,
    )
