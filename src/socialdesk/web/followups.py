"""Desk pages of the followups domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
