"""Jobs and periodic tasks of the channels domain: account health and credential upkeep."""

from __future__ import annotations
