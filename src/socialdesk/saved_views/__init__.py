"""Saved inbox views: a name for a set of the inbox's filters ("VIP complaints", "Waiting on
us"), one member's own or shared with the whole team."""
