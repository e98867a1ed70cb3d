"""REST API of the escalations domain (thin: validate, call the service, map errors)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["escalations"])
