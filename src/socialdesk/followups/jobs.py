"""Jobs, periodic tasks and event listeners of the followups domain."""

from __future__ import annotations
