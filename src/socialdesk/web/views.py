"""The desk's server-rendered pages."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from socialdesk.common.errors import DomainError

router = APIRouter()


def error_page(request: Request, exc: DomainError) -> Response:
    body = f"<!doctype html><title>{exc.status_code}</title><h1>{escape(exc.message)}</h1>"
    return HTMLResponse(body, status_code=exc.status_code)
