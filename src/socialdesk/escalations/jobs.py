"""Jobs, periodic tasks and event listeners of the escalations domain."""

from __future__ import annotations
