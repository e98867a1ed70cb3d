"""Triage: sentiment, complaint, intent, priority and language of every incoming message.

Use :func:`classify` or :func:`classify_batch`; the models load lazily from the artifacts that
ship inside this package, and nothing is fetched over the network.
"""

from socialdesk.triage.classify import TIERS, Triager, TriageResult, classify, classify_batch
from socialdesk.triage.priority import Priority, TriageContext

__all__ = [
    "TIERS",
    "Priority",
    "TriageContext",
    "TriageResult",
    "Triager",
    "classify",
    "classify_batch",
]
