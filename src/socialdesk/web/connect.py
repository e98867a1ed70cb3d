"""Connecting brand accounts: OAuth set-up flows per channel."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
