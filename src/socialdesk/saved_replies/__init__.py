"""Saved replies: answers written once by the team, filled in for each conversation."""
