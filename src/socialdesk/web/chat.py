"""The website channel's customer-facing chat page and embeddable widget."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
