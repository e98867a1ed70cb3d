"""Placeholders in texts written ahead of a conversation: a follow-up's template, a saved reply.

``{name}``, ``{handle}``, ``{agent}`` and ``{brand}`` stand for the customer, the member who
sends the text and the brand account, and are filled in from the conversation when the text is
used. A text is checked when it is saved: an unknown placeholder, a format (``{name!r}``) or an
unmatched brace is refused, naming it.
"""

from __future__ import annotations

import string

from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common.errors import ValidationFailed
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation

PLACEHOLDERS: dict[str, str] = {
    "name": "the customer's name (their display name on the channel when no name is known)",
    "handle": "the customer's handle on the channel (@ana); their name where there is none",
    "agent": "the name of the member who sends it",
    "brand": "the brand account's display name",
}
# What a preview shows in place of each placeholder.
SAMPLE_VALUES: dict[str, str] = {
    "name": "Ana",
    "handle": "@ana",
    "agent": "Alex",
    "brand": "Acme Care",
}


def names_in(text: str, *, field: str, what: str = "the template") -> list[str]:
    """The placeholder names ``text`` uses, in order; raises ValidationFailed (on ``field``)
    for a text Python's formatter cannot read (an unmatched brace) or a placeholder with a
    format."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationFailed(
            f"{what} cannot be read ({exc}); write {{{{ or }}}} for a literal brace",
            field=field,
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ValidationFailed(f"placeholders take no format: write {{{name}}}", field=field)
        names.append(name)
    return names


def check(text: str, *, field: str, what: str = "the template") -> None:
    """Refuse a text with a placeholder that is not one of :data:`PLACEHOLDERS`, naming each."""
    unknown = [
        n for n in dict.fromkeys(names_in(text, field=field, what=what)) if n not in PLACEHOLDERS
    ]
    if unknown:
        known = ", ".join(f"{{{k}}}" for k in PLACEHOLDERS)
        raise ValidationFailed(
            f"unknown placeholder{'s' if len(unknown) > 1 else ''} in {what}: "
            f"{', '.join(f'{{{n}}}' for n in unknown)}; use {known}",
            field=field,
        )


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders replaced; ``values`` holds every one of PLACEHOLDERS and
    ``text`` passed :func:`check`."""
    return text.format_map(values)


def values(
    session: Session, *, conversation: Conversation, author_name: str | None
) -> dict[str, str]:
    """What the placeholders stand for in this conversation, sent by ``author_name``."""
    account = session.get_one(BrandAccount, conversation.brand_account_id)
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    identity = (
        contacts_service.identity_on(session, contact_id=contact.id, channel=account.kind)
        if contact is not None
        else None
    )
    handle = (identity.handle or "").strip() if identity is not None else ""
    display = (identity.display_name or "").strip() if identity is not None else ""
    name = (contact.name.strip() if contact is not None else "") or display
    name = name or handle.lstrip("@") or "there"
    return {
        "name": name,
        "handle": handle or name,
        "agent": author_name or "",
        "brand": account.display_name or account.handle,
    }
