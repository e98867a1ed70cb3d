"""Pulling another department in without losing the conversation's owner."""
