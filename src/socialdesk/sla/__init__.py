"""Service-level targets: policies, clocks per conversation, warnings, breaches, reports."""
