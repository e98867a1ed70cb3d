"""Desk pages of the escalations domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
