"""Jobs, periodic tasks and event listeners of the sla domain."""

from __future__ import annotations
