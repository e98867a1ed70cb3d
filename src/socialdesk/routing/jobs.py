"""Jobs, periodic tasks and event listeners of the routing domain."""

from __future__ import annotations
