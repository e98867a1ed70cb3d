"""Counting requests per key in fixed windows, in the database, so a limit holds across every
web process and machine."""
