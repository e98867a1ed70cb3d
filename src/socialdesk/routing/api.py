"""REST API of the routing domain (thin: validate, call the service, map errors)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["routing"])
