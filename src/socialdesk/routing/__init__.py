"""Who gets a conversation: duty, routing rules, auto-assignment, reassignment, automation."""
