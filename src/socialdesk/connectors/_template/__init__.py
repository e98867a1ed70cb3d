"""A connector folder to copy. See README.md here and docs/connectors.md."""

from socialdesk.connectors._template.connector import TemplateConnector

__all__ = ["TemplateConnector"]
