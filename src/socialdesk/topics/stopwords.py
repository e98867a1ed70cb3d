"""Words that say nothing about a topic: function words of the languages a desk most often
meets, and the small talk of customer messages ("thanks", "please", "dm")."""

from __future__ import annotations

_ENGLISH = """
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each either else even ever every few for from further get gets getting got had
hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself
his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let let's
like made make many may me might more most much must mustn't my myself neither never no nor not
now of off often on once one only or other ought our ours ourselves out over own per quite rather
really same shall shan't she she'd she'll she's should shouldn't since so some still such than
that that's the their theirs them themselves then there there's these they they'd they'll they're
they've thing things this those though through thus to too under until up upon us very via was
wasn't way we we'd we'll we're we've well were weren't what what's whatever when when's where
where's whether which while who who's whom whose why why's will with within without won't would
wouldn't yet you you'd you'll you're you've your yours yourself yourselves
im ive dont doesnt didnt cant wont isnt arent wasnt havent hasnt couldnt shouldnt wouldnt
youre theyre thats whats theres lets
"""

# What nearly every message to a brand says, whatever it is about.
_CHAT = """
amp hi hey hello dear thanks thank thx ty please pls plz ok okay yes yeah yep no nope lol omg
rt dm dms pm via sir madam team guys anyone someone something anything everything nothing
today yesterday tomorrow tonight day days time times week weeks again already always
go going gone know need needs want wants think tell told say said see seen look looking
help hope sorry good great still would could u ur r y n im gonna wanna gotta
morning afternoon evening night around minutes minute hour hours
"""

_OTHER = {
    # Spanish
    "es": """de la que el en y a los del se las por un para con no una su al lo como más pero sus
    le ya o este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde
    todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué
    unos yo otro otras otra él tanto esa estos mucho quienes nada muchos cual poco ella estar
    estas algunas algo nosotros mi mis tú te ti tu tus ellas es son fue está estoy hola gracias
    favor""",
    # French
    "fr": """au aux avec ce ces dans de des du elle en et eux il je la le les leur lui ma mais me
    même mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes
    toi ton tu un une vos votre vous c d j l à m n s t y été est suis sont ai as avons avez ont
    bonjour merci svp""",
    # German
    "de": """aber alle als also am an auch auf aus bei bin bis bist da damit dann das dass dein
    dem den der des dich die dir du ein eine einem einen einer es für hat hatte ich ihr im in ist
    ja kann kein mein mich mir mit nach nicht noch nur oder schon sein sich sie sind so über um
    und uns unser vom von vor war was wie wir wird zu zum zur hallo danke bitte""",
    # Dutch
    "nl": """de en van ik te dat die in een hij het niet zijn is was op aan met als voor had er
    maar om hem dan zou of wat mijn men dit zo door over ze zich bij ook tot je mij uit der daar
    haar naar heb hoe heeft hebben deze u want nog zal me zij nu ge geen omdat iets worden toch al
    waren veel meer doen toen moet ben zonder kan hun dus alles onder ja eens hier wie werd altijd
    doch wordt wezen kunnen ons zelf tegen na reeds wil kon niets uw iemand geweest andere hoi
    bedankt dank""",
    # Portuguese
    "pt": """de a o que e do da em um para é com não uma os no se na por mais as dos como mas ao
    ele das à seu sua ou quando muito nos já eu também só pelo pela até isso ela entre depois sem
    mesmo aos seus quem nas me esse eles você essa num nem suas meu às minha numa pelos elas qual
    nós lhe deles essas esses pelas este dele tu te vocês vos lhes meus minhas teu tua teus tuas
    nosso nossa nossos nossas dela delas esta estes estas aquele aquela aqueles aquelas isto
    aquilo estou está estamos estão olá obrigado obrigada""",
    # Italian
    "it": """ad al allo ai agli all agl alla alle con col coi da dal dallo dai dagli dall dagl
    dalla dalle di del dello dei degli dell degl della delle in nel nello nei negli nell negl
    nella nelle su sul sullo sui sugli sull sugl sulla sulle per tra contro io tu lui lei noi voi
    loro mio mia miei mie tuo tua tuoi tue suo sua suoi sue nostro nostra nostri nostre vostro
    vostra vostri vostre mi ti ci vi lo la li le gli ne il un uno una ma ed se perché anche come
    dov dove che chi cui non più quale quanto quanti quanta quante quello quelli quella quelle
    questo questi questa queste si tutto tutti ciao grazie""",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: frozenset[str] = (
    _words(_ENGLISH)
    | _words(_CHAT)
    | frozenset().union(*(_words(text) for text in _OTHER.values()))
)
