"""REST API routes of this domain (mounted under /api)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
