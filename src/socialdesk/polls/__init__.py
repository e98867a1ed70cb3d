"""Public polls: a question the organization asks its audience from a brand account.

A poll is written in the desk, passes the code of conduct like every outgoing word (held for
an approver when a rule says so), is posted by a durable job through the account's connector,
and its counts are read back until it closes, so the team learns what its customers think.
"""
