"""Desk pages of the commitments domain."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
