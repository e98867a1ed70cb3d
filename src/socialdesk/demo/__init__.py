"""The demo organization: a living desk for newcomers, loaded with ``socialdesk demo``."""
