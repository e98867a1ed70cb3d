"""socialdesk: one shared desk for customer care on social media, email and the web."""

__version__ = "0.1.0"
