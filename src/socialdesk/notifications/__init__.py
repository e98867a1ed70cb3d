"""Telling people: in the desk, by email and by outgoing webhook."""
