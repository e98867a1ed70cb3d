"""Jobs, periodic tasks and event listeners of the commitments domain."""

from __future__ import annotations
