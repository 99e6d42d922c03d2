"""The phrase tables behind ``engine.inbound.intent.RuleClassifier``: data, not logic.

Patterns are regular expressions over the normalised text: lower case, accents removed
("intéressé" -> "interesse", "Büro" -> "buro", "ß" -> "ss"), curly quotes made straight.
A cue's weight says how much it tells on its own: 3 settles it, 2 is strong, 1 is a hint.
Cues of interest are ``NEGATABLE``: preceded in their clause by "not", "pas", "nicht", "no"...
they count for not_interested instead.
"""

from __future__ import annotations

import re

Cue = tuple[str, float]

UNSUBSCRIBE: tuple[Cue, ...] = (
    # en
    (r"\bunsubscribe\b", 3),
    (r"\bremove me\b", 3),
    (r"\btake me off\b", 3),
    (r"\bopt(ing)? me out\b", 3),
    (r"\bstop (e-?mailing|contacting|messaging|texting|writing to|sending)\b", 3),
    (r"\b(do not|don't|dont|never) (contact|e-?mail|message|text|write to) me\b", 3),
    (r"\b(delete|remove|erase) my (data|details|information|e-?mail|address)\b", 3),
    (  # "opt out", "opt out of your list"; not "can I opt out of relocation?"
        r"\bopt(ing)?[- ]?out\b(?=\s*(?:[.!,;]|$|please|my |of (?:your|this|these|the|all) "
        r"(?:list|mailing|e-?mails?|messages|communications)))",
        3,
    ),
    (r"\b(remove|take) (me|my (name|e-?mail|address)) (from|off)\b", 3),
    (r"\bno (more|further) (e-?mails|messages|contact)\b", 3),
    # a line that is an SMS opt-out keyword ("STOP", "Arrêt svp"): channels.keywords
    (r"\b(do not|don't|dont|no longer) want to (receive|get|hear)\b", 3),
    # fr
    (r"\bdes(inscri|abonn)\w*", 3),
    (r"\bne (me )?contactez(-moi)? plus\b", 3),
    (r"\bne m'(ecrivez|envoyez) plus\b", 3),
    (r"\bne (veux|souhaite|desire) plus (recevoir|etre contacte)", 3),
    (r"\barrete[zr]? de m'?(envoyer|ecrire|contacter)\b", 3),
    (r"\bsupprim\w* (mes|mon|ma) (coordonnees|donnees|adresse|e-?mail|contact)", 3),
    (r"\bretire[zr]?[- ]moi\b", 3),
    (r"\bne plus (recevoir|etre contacte)", 3),
    (
        r"\b(retirer|supprimer|enlever|rayer)\w* (moi |mon adresse |mon e-?mail )?"
        r"de (votre|vos|la) (liste|fichier)",
        3,
    ),
    # de
    (r"\babmelden\b", 3),
    (r"\baustragen\b", 3),
    (r"\b(aus|von) (ihrem|ihrer|dem|der|eurem|deinem) (e-?mail-?)?(verteiler|liste)\b", 3),
    (r"\bkeine (weiteren )?(e-?mails|nachrichten|mails)\b", 3),
    (r"\b(kontaktieren|schreiben|anschreiben|mailen) sie (mich|mir) (bitte )?nicht mehr\b", 3),
    (r"\bloschen sie (bitte )?meine (daten|adresse|e-?mail)\b", 3),
    (r"\bnehmen sie mich (bitte )?(aus|von)\b", 3),
    # es
    (r"\b(dar|darme|dame|dadme|denme|deme) de baja\b", 3),
    (r"\bno me (escribas|escriban|escriba|contactes|contacten|contacte|envies|envien) mas\b", 3),
    (r"\bdej(a|en|e|ad) de (enviarme|escribirme|contactarme)\b", 3),
    (r"\b(elimin|borr)\w* mis datos\b", 3),
    (r"^\W*baja\b(?! (por|medica))", 3),
    (r"\bno (quiero|deseo) recibir mas\b", 3),
    (r"\b(quitar|sacar|eliminar|borrar)(me)? de (la|su|vuestra|tu) lista\b", 3),
)

OUT_OF_OFFICE: tuple[Cue, ...] = (
    # en
    (r"\bout of (the )?office\b", 3),
    (r"\bon (vacation|holiday|annual leave|leave|pto)\b", 3),
    (r"\b(parental|maternity|paternity|sick) leave\b", 3),
    (r"\b(limited|no) access to (my )?e-?mails?\b", 3),
    (r"\bwill (return|be back)\b", 2),
    (r"\baway from (the|my) (office|desk)\b", 2),
    (r"\b(automatic|auto) reply\b|\bautoreply\b", 3),
    (r"\bwhen i('m| am) back\b|\bupon my return\b", 2),
    (r"\bwill not be forwarded\b", 2),
    (r"\bfor urgent (matters|requests|issues)\b", 2),
    (r"\b(away|off|out|travell?ing) (until|till|through)\b", 3),
    (r"\b(returning|back) (on|to the office)\b", 2),
    (r"\bsabbatical\b", 3),
    (r"\bcurrently (away|travell?ing|unavailable)\b", 2),
    (
        r"\b(respond|reply|get back to you) (on|upon|after|when) "
        r"(my return|i return|i'm back|i am back)\b",
        3,
    ),
    # fr
    (r"\babsente? (du bureau|jusqu)", 3),
    (r"\ben conges?\b", 3),
    (r"\ben vacances\b", 3),
    (r"\breponse automatique\b", 3),
    (r"\ba mon retour\b", 2),
    (r"\ben deplacement\b", 2),
    (r"\bpas acces a mes (e-?mails|mails|courriels)\b", 3),
    (r"\ben cas d'urgence\b", 2),
    (r"\bde retour (le|au bureau|lundi|mardi|mercredi|jeudi|vendredi)\b", 2),
    (r"\b(je suis|actuellement) absente?\b", 3),
    # de
    (r"\bnicht im buro\b", 3),
    (r"\bim urlaub\b", 3),
    (r"\babwesenheitsnotiz\b", 3),
    (r"\babwesend\b", 3),
    (r"\bautomatische antwort\b", 3),
    (r"\b(elternzeit|mutterschutz)\b", 3),
    (r"\bkeinen zugriff auf (meine )?e-?mails\b", 3),
    (r"\bwieder (erreichbar|im buro)\b", 3),
    (r"\bnicht weitergeleitet\b", 2),
    (r"\b(nach|bei) meiner ruckkehr\b", 3),
    (r"\bausser haus\b", 3),
    (  # "ab 12.8. wieder erreichbar"
        r"\b(ab|bis einschliesslich|bis zum|bis) \d{1,2}\.\s?\d{1,2}\.(\d{2,4})? "
        r"(wieder )?(erreichbar|im buro|zuruck)\b",
        3,
    ),
    # es
    (r"\bfuera de la oficina\b", 3),
    (r"\b(estoy|me encuentro|estare) de (vacaciones|viaje)\b", 3),
    (r"\brespuesta automatica\b", 3),
    (r"\bausente\b", 3),
    (r"\bde baja (por|medica)\b", 3),
    (r"\ba mi (regreso|vuelta)\b", 2),
    (r"\bacceso limitado\b", 2),
    (r"\bpor vacaciones\b", 3),
    (r"\bno estare disponible\b", 2),
    (r"\bestare de (vuelta|regreso)\b|\bregreso el\b", 2),
)

NOT_INTERESTED: tuple[Cue, ...] = (
    # en
    (r"\bnot (really |that |at all )?interested\b", 2),
    (r"\bno longer interested\b", 2),
    (r"\bno,? thanks?( you)?\b", 2),
    (r"\bnot (currently |actively )?(looking|searching|considering)\b", 2),
    (r"\bnot (at the moment|right now|now|at this time|for now)\b", 2),
    (r"\bhappy (where i am|in my (current )?(role|job|position))\b", 2),
    (r"\b(i'll|i will|ill) pass\b|\bpass on this\b", 2),
    (r"\bjust (started|joined)\b", 2),
    (r"\bnot (a good|the right) (time|moment)\b", 2),
    (r"\bnot for me\b", 2),
    (r"\bdecline\b", 2),
    (
        r"\b(pursue|pursuing|accepted|taken|chosen) (other|another|a different) "
        r"(opportunit|offer|role|position|job)",
        2,
    ),
    (r"\bdecided to (stay|remain|accept|go with|pursue)\b", 2),
    (r"\bno interest\b|\bnot open to\b|\bnot (in the market|a (good )?fit)\b", 2),
    (r"\b(i'm|i am) (all set|good for now)\b", 2),
    (r"\b(have to|must|will|going to) (decline|pass)\b|\brather not\b", 2),
    (r"\b(just )?(accepted|signed) (an?|another) (offer|position|role)\b", 2),
    (r"\bnot (planning|looking) to (move|leave|change)\b", 2),
    (r"\btry me (again|later|in)\b", 1),
    (r"\bmaybe (next year|later|in the future)\b", 1),
    (r"\bunfortunately\b", 1),
    # fr
    (r"\bpas (vraiment |tres |du tout )?interess", 2),
    (r"\bplus interess", 2),
    (r"\bnon,? merci\b", 2),
    (r"\bpas le (bon )?moment\b", 2),
    (r"\bpas (a l'ecoute|en recherche|en veille)\b", 2),
    (r"\bne (cherche|recherche) pas\b", 2),
    (r"\bbien dans mon (poste|entreprise|job|equipe)\b", 2),
    (r"\bviens de (changer|commencer|rejoindre|prendre)\b", 2),
    (r"\bpas pour moi\b", 2),
    (r"\bdecliner\b", 2),
    (r"\bmalheureusement\b", 1),
    (r"\bje passe mon tour\b|\bpas d'actualite\b", 2),
    # de
    (r"\bkein interesse\b", 2),
    (r"\bnicht (mehr )?interessiert\b", 2),
    (r"\bnein,? danke\b", 2),
    (r"\bsuche ich (derzeit |aktuell |momentan )?nicht\b", 2),
    (r"\bnicht (auf der suche|wechselwillig)\b", 2),
    (r"\bzufrieden\b", 2),
    (r"\bkein bedarf\b", 2),
    (r"\bpasst (aktuell |derzeit |gerade |leider )?nicht\b", 2),
    (r"\bnicht (wechseln|verandern)\b", 2),
    (r"\bvielleicht spater\b", 1),
    (r"\bleider\b", 1),
    (  # "derzeit nicht, danke"; not "ich kann aktuell nicht telefonieren"
        r"\b(derzeit|aktuell|momentan|im moment|zur zeit) (leider )?nicht\b"
        r"(?=\s*(?:[.,!;]|$|danke|interessiert|auf der suche|wechselwillig))",
        2,
    ),
    (r"\bnicht offen\b|\bkein wechsel\b", 2),
    # es
    (r"\bno me interesa\b", 2),
    (r"\bno estoy (buscando|interesad[oa])\b", 2),
    (r"\bno,? gracias\b", 2),
    (r"\b(contento|contenta|feliz) (en|con) mi (trabajo|puesto|empresa)\b", 2),
    (
        r"\b(en este momento|ahora mismo|por ahora|de momento) no\b"
        r"|\bno (en este momento|por ahora)\b",
        2,
    ),
    (r"\bno busco\b|\bprefiero no\b", 2),
    (r"\bquizas mas adelante\b", 1),
    (r"\bya tengo (trabajo|empleo)\b|\bno es (el|un buen) momento\b", 2),
    (r"\b(lamentablemente|desafortunadamente)\b", 1),
)

INTERESTED: tuple[Cue, ...] = (
    # en
    (r"\binterested\b", 2),
    (r"\bsounds (good|great|interesting|exciting)\b", 2),
    (r"\b(happy|glad|keen|love|like) to (chat|talk|hear|connect|learn|discuss|jump|hop|meet)\b", 2),
    (r"\bi'?d love to\b", 2),
    (r"\blet'?s (talk|chat|connect|set up|schedule|do it|meet|book|speak|find a time)\b", 2),
    (r"\bopen to (new )?(opportunities|a (chat|call|conversation)|it)\b", 2),
    (r"\bcount me in\b", 2),
    (r"\bfeel free to call\b", 2),
    (r"\b(set up|schedule|book|jump on|hop on) a (call|chat|meeting)\b", 2),
    (r"\b(thinking about|considering) (a move|a change|moving|changing)\b", 2),
    (r"\b(calendar|meeting) invite\b|\bare you free\b|\bworks for me\b", 1),
    (r"\b(i'm|i am) (free|available)\b", 1),
    (r"\bcould be a (good |great )?fit\b|\b(i'm|i am) curious\b|\btell me more\b", 2),
    (r"\b(call|ring|phone) me\b", 2),
    (r"\bsend (me|over) (the |more |some )?(details|info|information|job description|jd)\b", 1),
    (r"^\W*(yes|yeah|yep|sure|absolutely|definitely|of course)\b", 1),  # opening the reply
    # fr
    (r"(?<!ihr )(?<!ihres )\binteress(e|ee|es|ees)\b", 2),
    (r"\bm'interess(e|ent|er)\b", 2),
    (r"\bje veux bien\b|\bappelez-moi\b", 2),
    (r"\bavec plaisir\b|\bvolontiers\b", 2),
    (r"\b(discutons|parlons|echangeons)\b", 2),
    (r"\bpourquoi pas\b", 2),
    (r"\bouverte? a (de nouvelles|des|une) (opportunites|propositions|discussion)\b", 2),
    (r"\bon (peut|pourrait) (s'appeler|echanger|en discuter|se parler|s'appeller)\b", 2),
    (r"\bdisponible\b", 1),
    (r"\b(oui|bien sur|carrement)\b", 1),
    # de
    (r"\binteressiert\b", 2),
    (r"(?<!ihr )(?<!ihres )(?<!unser )\binteresse\b", 2),  # not "danke fur Ihr Interesse"
    (r"\bgerne?\b", 2),
    (r"\b(klingt|hort sich) (gut|spannend|interessant|super|toll)\b", 2),
    (r"\brufen sie mich (gerne |gern )?an\b", 2),
    (r"\blass(t)? uns (sprechen|telefonieren|reden|austauschen)\b", 2),
    (r"\boffen fur (neues|neue|ein gesprach|einen austausch)\b", 2),
    (r"\b(telefonieren|termin)\b", 1),
    (r"\b(ja|sehr gern)\b", 1),
    # es
    (r"\bme interesa\b", 2),
    (r"\binteresad[oa]s?\b", 2),
    (r"\bme encantaria\b|\bencantad[oa] de\b|\bme parece interesante\b", 2),
    (r"\bpodemos hablar\b|\bconversar\b", 2),
    (r"\b(hablemos|hablamos)\b", 2),
    (r"\bcon gusto\b", 2),
    (r"\bsuena (bien|interesante|genial)\b", 2),
    (r"\babiert[oa] a (nuevas )?oportunidades\b", 2),
    (r"\b(agendar|programar|tener|hacer) una llamada\b", 2),
    (r"\bcuentame mas\b", 2),
    (r"\btengo disponibilidad\b", 1),
    (r"\b(claro|por supuesto)\b", 1),
)

QUESTION: tuple[Cue, ...] = (
    (
        r"\b(salary|compensation|pay range|salaire|remuneration"
        r"|gehalt|vergutung|salari\w*|sueldo)\b",
        1,
    ),
    (r"\b(remote|hybrid|teletravail|remoto|homeoffice|home office)\b", 1),
    (r"\b(job description|fiche de poste|stellenbeschreibung|descripcion del puesto)\b", 1),
    (r"\b(which company|quelle entreprise|welches unternehmen|que empresa)\b", 1),
    (r"\b(visa|visas|relocation|demenagement|umzug|reubicacion)\b", 1),
    (
        r"\b(a|one|quick|some|another) (\w+ )?questions?\b"
        r"|\bune question\b|\beine frage\b|\buna pregunta\b",
        1.5,
    ),
)
QUESTION_MARK_WEIGHT = (
    1.5  # per sentence ending in "?" (or opening with "¿"), counted twice at most
)

SMALL_TALK = re.compile(  # questions that ask nothing of the recruiter
    r"\b(?:and you|how are you(?: doing)?|how's it going|et vous|et toi|ca va"
    r"|comment (?:allez-vous|vas-tu)|und (?:ihnen|dir)|wie geht(?:'s| es (?:ihnen|dir))?"
    r"|y (?:tu|usted)|(?:como|que tal) (?:estas|esta)|que tal)\s*\?+",
)
NEGATORS = frozenset(
    {
        *("not", "no", "never", "nor", "without", "dont", "wont", "cant", "wouldnt", "isnt"),
        *("ne", "pas", "plus", "jamais", "aucun", "aucune", "aucunement"),
        *("nicht", "kein", "keine", "keinen", "keinem", "nie", "niemals"),
        *("nunca", "ni", "tampoco"),
    }
)
# Interest the speaker does not claim: "if you are interested", "a colleague might be
# interested", "ob das passt", "si le interesa a alguien". Such a cue counts for nothing.
HEDGES = frozenset(
    {
        *("if", "whether", "might", "may", "someone", "anyone", "somebody", "anybody", "who"),
        *("he", "she", "they", "colleague", "colleagues", "friend", "friends"),
        *("quelqu'un", "collegue", "collegues", "ami", "amis"),  # no "si": Spanish "sí" too
        *("falls", "ob", "jemand", "wer", "kollege", "kollegin", "kollegen"),
        *("alguien", "quien", "companero", "companera", "amigo", "amiga"),
    }
)
HEDGE_WINDOW = 4  # words looked at before a cue of interest, inside its clause
NEGATION_WINDOW = 5  # words looked at before a cue of interest, inside its clause
# a comma ends a clause, except before "dass"/"que"/"that": "Ich glaube nicht, dass ..."
CLAUSE_BREAK = (
    r"[.!?;:\n()]|,(?!\s*(?:dass|que|that)\b)"
    r"|\b(?:but|however|mais|cependant|aber|jedoch|pero|aunque)\b"
)

AUTO_SUBJECT = (
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|out of (the )?office|autoreply|auto:)",
    r"^\s*(reponse automatique|absence|absent)",
    r"^\s*(automatische antwort|abwesenheit|abwesenheitsnotiz)",
    r"^\s*(respuesta automatica|fuera de la oficina)",
)
