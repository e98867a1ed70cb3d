"""Text normalisation shared by training and classification.

Every tier sees the same normalised text, so a model trained on one source (SemEval tweets, where
handles are already ``@user``) behaves the same on live messages that still carry real handles
and links.
"""

from __future__ import annotations

import html
import re

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
# TweetEval (and some exports) store characters as literal ``\u2019`` escapes; decoding them makes
# the same tweet look the same whatever file it came from.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def normalize(text: str) -> str:
    """Unescape HTML entities, replace links and handles by placeholders, squeeze spaces."""
    # The substring checks skip a regex pass in the common case; ingest runs this per message.
    if "\\u" in text:
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "&" in text:
        text = html.unescape(text)
    lowered = text.lower()
    if "http" in lowered or "www." in lowered:
        text = _URL.sub("http", text)
    if "@" in text:
        text = _MENTION.sub("@user", text)
    return " ".join(text.split())
