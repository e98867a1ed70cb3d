"""Mastodon (any instance): mentions and direct messages in, replies out. See README.md."""

from socialdesk.connectors.mastodon.connector import MastodonConnector

__all__ = ["MastodonConnector"]
