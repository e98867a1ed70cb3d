"""The desk page of the polls report (/reports/polls): what the organization asked in a range
of days and what it learned, and its CSV.

Thin like the other reports: the ``start`` and ``end`` of the query string are read as the API
reads them, ``polls.report`` does the work, and a range that does not read is shown beside the
form with status 422.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from socialdesk.common.deps import DB, Actor, Reader
from socialdesk.polls import api as polls_api
from socialdesk.polls import report
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.polls import STATE_WORDS
from socialdesk.web.render import render

router = APIRouter(include_in_schema=False)


def _report(request: Request, db: Session, actor: Actor) -> report.Report:
    return report.build(
        db,
        organization_id=actor.organization_id,
        start=forms.optional_date(request.query_params, "start"),
        end=forms.optional_date(request.query_params, "end"),
    )


# After "@" and "." a long handle may break ("transit@social.example"), not inside a word.
_HANDLE_BREAKS = re.compile(r"(?<=.@)|(?<=\.)")


def breakable(handle: str) -> Markup:
    """``handle`` escaped, with line-break opportunities after its "@" and dots."""
    return Markup("<wbr>").join(_HANDLE_BREAKS.split(handle))


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


@router.get("/reports/polls")
def polls_report_page(request: Request, actor: Reader, db: DB) -> Response:
    shown, status = forms.report_range(request, lambda: _report(request, db, actor))
    return render(
        request,
        "polls/report.html",
        {
            **page_context(db, actor),
            **shown,
            "percent": percent,
            "breakable": breakable,
            "state_words": STATE_WORDS,
        },
        status_code=status,
    )


@router.get("/reports/polls.csv")
def polls_report_csv(request: Request, actor: Reader, db: DB) -> Response:
    return polls_api.report_csv(_report(request, db, actor))
