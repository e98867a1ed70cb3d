"""Bluesky (AT Protocol): mentions, replies and quotes in, threaded replies out. See README.md."""

from socialdesk.connectors.bluesky.connector import BlueskyConnector

__all__ = ["BlueskyConnector"]
