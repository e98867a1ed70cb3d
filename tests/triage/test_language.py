from socialdesk.triage.language import detect, detect_batch

SAMPLES = [
    "Bonjour, ma commande n'est jamais arrivée et personne ne répond",
    "Hola, mi pedido no ha llegado todavía y nadie me contesta",
    "Hallo, meine Bestellung ist immer noch nicht angekommen",
    "Olá, o meu pedido ainda não chegou, podem ajudar?",
    "Ciao, il mio ordine non è ancora arrivato",
    "Amazonプライム便利",
    "my parcel never arrived and nobody answers",
    "Where is it",
    "??",
    "",
]


def test_batch_detection_gives_exactly_the_per_text_answers() -> None:
    # Long enough for the batched walk; the per-text path is py3langid's own.
    texts = SAMPLES * 4
    assert detect_batch(texts) == [detect(t) for t in texts]


def test_known_languages_and_too_short_text() -> None:
    codes = [language.code for language in detect_batch(SAMPLES)]
    assert codes[:6] == ["fr", "es", "de", "pt", "it", "ja"]
    assert codes[6] == "en"
    assert codes[-1] == "und"
    assert detect("??").method == "too-short"


def test_plain_english_skips_the_model() -> None:
    language = detect("why is my order still not here, this is the third time")
    assert (language.code, language.method) == ("en", "function-words")
