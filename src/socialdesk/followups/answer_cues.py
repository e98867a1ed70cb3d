"""Cues for follow-up answers in Spanish, French, German, Dutch, Portuguese and Italian.

English cues live in ``answers``. Here, per language:

* ``yes`` / ``no``: a yes or a no that opens the answer. Only the message's own language's
  words count, except the ones no other of these languages spells the same way (``oui``,
  ``nein``, ``não``...): a French "si" means "if", so Spanish and Italian "si" need the
  message to be Spanish or Italian.
* ``negative`` / ``positive``: phrases that say it is still broken, or works now. They are
  distinctive enough to be read whatever language the message was detected as (a short
  answer's language is often detected wrongly), and are matched on the text with its accents
  removed, as customers often type them without.
* ``opt_out``: asking not to be contacted like this again.

Negative cues are checked before positive ones in every language, so "no funciona" is not
read as "funciona".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_I = re.IGNORECASE


@dataclass(frozen=True)
class LanguageCues:
    yes: re.Pattern[str]
    no: re.Pattern[str]
    negative: tuple[tuple[str, re.Pattern[str]], ...]
    positive: tuple[tuple[str, re.Pattern[str]], ...]
    opt_out: re.Pattern[str]


def _opening(words: str) -> re.Pattern[str]:
    return re.compile(rf"^\W*(?:{words})(?![\w'])", _I)


def _cue(name: str, pattern: str) -> tuple[str, re.Pattern[str]]:
    return name, re.compile(pattern, _I)


def fold(text: str) -> str:
    """The text without accents ("sí" -> "si", "não" -> "nao", "ça" -> "ca")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


CUES: dict[str, LanguageCues] = {
    "es": LanguageCues(
        yes=_opening(r"s[ií]|claro|correcto|por\s+supuesto|efectivamente|vale"),
        no=_opening(r"no(?!\s+hay\s+(?:problemas?|quejas|fallos?))"),
        negative=(
            _cue("sigue sin funcionar", r"\bsigue[n]?\s+sin\s+(?:funcionar|servir|arreglar|ir)\b"),
            _cue(
                "todavía no funciona",
                r"\b(?:todavia|aun|sigue[n]?)\s+(?:no|sin)\b|"
                r"\bno\s+(?:me\s+)?(?:funciona|va|anda|sirve|carga|conecta|llega|ha\s+llegado)\b|"
                r"\bno\s+(?:se\s+ha|esta|está)\s+(?:arreglado|solucionado|resuelto)\b",
            ),
            _cue("igual", r"\b(?:sigue|esta|está)\s+(?:igual|roto|caido|fallando)\b"),
            _cue("mismo problema", r"\b(?:el\s+)?mismo\s+(?:problema|error|fallo)\b"),
        ),
        positive=(
            _cue(
                "ya funciona",
                r"\b(?:ya\s+)?(?:funciona|va\s+bien|anda\s+bien)\b|"
                r"\b(?:arreglado|solucionado|resuelto)\b|\btodo\s+(?:bien|ok|correcto)\b",
            ),
            _cue("gracias", r"\bgracias\b"),
        ),
        opt_out=re.compile(
            r"\bno\s+me\s+(?:contacten|escriban|molesten|vuelvan\s+a\s+escribir)\b|"
            r"\bdar(?:me)?\s+de\s+baja\b",
            _I,
        ),
    ),
    "fr": LanguageCues(
        yes=_opening(r"oui|ouais|bien\s+s[uû]r|tout\s+[àa]\s+fait|effectivement"),
        no=_opening(r"non"),
        negative=(
            _cue(
                "ne marche pas",
                r"\b(?:ne|n')\s*(?:marche|fonctionne|va|charge|se\s+connecte)\s+"
                r"(?:toujours\s+)?(?:pas|plus)\b|\b(?:marche|fonctionne)\s+(?:toujours\s+)?pas\b",
            ),
            _cue(
                "toujours pas",
                r"\btoujours\s+(?:pas|en\s+panne|le\s+meme\s+probleme|rien|bloque|coupe)\b",
            ),
            _cue(
                "pas réglé",
                r"\bpas\s+(?:encore\s+)?(?:ete\s+)?(?:repare|resolu|regle)e?s?\b",
            ),
            _cue("même problème", r"\bmeme\s+(?:probleme|souci|panne|erreur)\b"),
            _cue("en panne", r"\b(?:encore|toujours)\s+en\s+panne\b"),
        ),
        positive=(
            _cue(
                "ça marche",
                r"\b(?:ca|tout)\s+(?:marche|fonctionne|remarche)\b|"
                r"\b(?:marche|fonctionne)\s+(?:a\s+nouveau|de\s+nouveau|bien|maintenant)\b|"
                r"\b(?:regle|resolu|repare)e?s?\b|\btout\s+(?:va\s+bien|est\s+(?:ok|bon))\b",
            ),
            _cue("merci", r"\bmerci\b"),
        ),
        opt_out=re.compile(
            r"\bne\s+(?:me\s+)?(?:contactez|recontactez|ecrivez)\s+plus\b|"
            r"\b(?:me\s+)?d[ée]sabonner\b|\b(?:me\s+)?d[ée]sinscrire\b",
            _I,
        ),
    ),
    "de": LanguageCues(
        yes=_opening(r"ja|jawohl|jep|klar|genau|nat[uü]rlich"),
        no=_opening(r"nein|n[eö]e"),
        negative=(
            _cue(
                "geht immer noch nicht",
                r"\b(?:funktioniert|geht|lauft|laedt|ladt)\s+(?:immer\s+noch\s+|noch\s+immer\s+|"
                r"noch\s+|weiterhin\s+|leider\s+)?nicht\b",
            ),
            _cue(
                "immer noch",
                r"\b(?:immer\s+noch|noch\s+immer|weiterhin)\s+(?:nicht|kein|keine|kaputt|"
                r"gestort|defekt|down|dasselbe|das\s+gleiche)\b",
            ),
            _cue("nicht behoben", r"\bnicht\s+(?:behoben|gelost|repariert|erledigt)\b"),
            _cue("gleiches Problem", r"\b(?:das\s+)?(?:gleiche|selbe)s?\s+problem\b"),
        ),
        positive=(
            _cue(
                "geht wieder",
                r"\b(?:funktioniert|geht|lauft)\s+(?:jetzt\s+)?(?:wieder|jetzt)\b|"
                r"\b(?:behoben|gelost|repariert)\b|\balles\s+(?:gut|ok|klar|bestens)\b",
            ),
            _cue("danke", r"\bdanke\b"),
        ),
        opt_out=re.compile(
            r"\babmelden\b|\bnicht\s+mehr\s+(?:kontaktieren|anschreiben|schreiben)\b|"
            r"\bkeine\s+(?:nachrichten|umfragen|e-?mails)\s+mehr\b",
            _I,
        ),
    ),
    "nl": LanguageCues(
        yes=_opening(r"ja|jazeker|zeker|klopt|jep"),
        no=_opening(r"nee|neen|nope"),
        negative=(
            _cue(
                "werkt nog steeds niet",
                r"\b(?:werkt|doet\s+het|laadt)\s+(?:nog\s+steeds\s+|nog\s+altijd\s+|nog\s+|"
                r"helaas\s+)?niet\b",
            ),
            _cue(
                "nog steeds",
                r"\b(?:nog\s+steeds|nog\s+altijd)\s+(?:niet|geen|kapot|stuk|hetzelfde|storing)\b",
            ),
            _cue("niet opgelost", r"\bniet\s+(?:opgelost|verholpen|gemaakt|gerepareerd)\b"),
            _cue("zelfde probleem", r"\b(?:hetzelfde|zelfde)\s+(?:probleem|storing)\b"),
        ),
        positive=(
            _cue(
                "werkt weer",
                r"\b(?:werkt|doet\s+het)\s+(?:nu\s+)?(?:weer|nu|prima)\b|"
                r"\b(?:opgelost|verholpen|gerepareerd)\b|\balles\s+(?:goed|ok|prima)\b",
            ),
            _cue("bedankt", r"\bbedankt\b|\bdank\s+(?:je|u)\b"),
        ),
        opt_out=re.compile(
            r"\bafmelden\b|\bniet\s+meer\s+(?:contacteren|benaderen|berichten|mailen)\b",
            _I,
        ),
    ),
    "pt": LanguageCues(
        yes=_opening(r"sim|claro|com\s+certeza|certo"),
        no=_opening(r"n[ãa]o"),
        negative=(
            _cue(
                "ainda não funciona",
                r"\b(?:ainda|continua)\s+(?:nao|sem)\b|"
                r"\bnao\s+(?:esta\s+)?(?:funciona|funcionando|resolveu|foi\s+resolvido|carrega|"
                r"conecta|chegou)\b",
            ),
            _cue("mesmo problema", r"\bmesmo\s+(?:problema|erro|defeito)\b"),
            _cue(
                "continua igual",
                r"\bcontinua\s+(?:igual|quebrado|com\s+defeito|com\s+problema)\b",
            ),
        ),
        positive=(
            _cue(
                "já funciona",
                r"\b(?:voltou\s+a\s+funcionar|ja\s+funciona|funcionando|funciona)\b|"
                r"\bresolvido\b|\btudo\s+(?:certo|bem|ok)\b",
            ),
            _cue("obrigado", r"\bobrigad[oa]\b"),
        ),
        opt_out=re.compile(
            r"\bnao\s+me\s+(?:contatem|contactem|mandem\s+mensagens)\b|\bdescadastrar\b|"
            r"\bcancelar\s+(?:a\s+)?inscricao\b",
            _I,
        ),
    ),
    "it": LanguageCues(
        yes=_opening(r"s[iì]|certo|esatto|certamente|certo\s+che\s+s[iì]"),
        no=_opening(r"no(?!\s+(?:problemi|problema))"),
        negative=(
            _cue(
                "ancora non funziona",
                r"\b(?:ancora|continua\s+a)\s+(?:non|rotto|guasto|lo\s+stesso)\b|"
                r"\bnon\s+(?:mi\s+)?(?:funziona|va|carica|si\s+connette|e\s+(?:stato\s+)?risolto|"
                r"risolto)\b",
            ),
            _cue("stesso problema", r"\b(?:lo\s+)?stesso\s+(?:problema|errore|guasto)\b"),
        ),
        positive=(
            _cue(
                "funziona di nuovo",
                r"\b(?:funziona|va)\s+(?:di\s+nuovo|ora|adesso|bene)\b|"
                r"\b(?:risolto|sistemato)\b|\btutto\s+(?:ok|bene|a\s+posto)\b",
            ),
            _cue("grazie", r"\bgrazie\b"),
        ),
        opt_out=re.compile(
            r"\bnon\s+(?:contattatemi|scrivetemi)\b|\bdisiscriver(?:mi|e)\b|\bcancellami\b",
            _I,
        ),
    ),
}

# Yes and no words that only one of these languages (or English) spells that way.
_UNAMBIGUOUS_YES = _opening(r"oui|ouais|ja|jawohl|sim|s[íì]")
_UNAMBIGUOUS_NO = _opening(r"non|nein|nee|neen|n[ãa]o")


def says_yes(text: str, language: str | None) -> bool:
    own = CUES.get(language or "")
    return bool(_UNAMBIGUOUS_YES.search(text) or (own is not None and own.yes.search(text)))


def says_no(text: str, language: str | None) -> bool:
    own = CUES.get(language or "")
    return bool(_UNAMBIGUOUS_NO.search(text) or (own is not None and own.no.search(text)))


def _first(folded: str, table: str) -> str | None:
    for cues in CUES.values():
        for name, pattern in getattr(cues, table):
            if pattern.search(folded):
                return str(name)
    return None


def negative_cue(text: str) -> str | None:
    """The name of the first "still broken" phrase in any of the languages, or None."""
    return _first(fold(text), "negative")


def positive_cue(text: str) -> str | None:
    """The name of the first "works now" phrase in any of the languages, or None."""
    return _first(fold(text), "positive")


def opts_out(text: str) -> bool:
    folded = fold(text)
    return any(cues.opt_out.search(folded) for cues in CUES.values())
