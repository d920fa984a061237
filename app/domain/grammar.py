"""Texting grammar: what an inbound SMS means.

`parse(text)` turns a member's text into an `Intent`; it knows nothing of members or
consultations (the domain layer decides what an intent does). Pure functions, tables
built once at import, tens of microseconds per message.

Normalisation (`normalise`)
    Unicode NFKC, case-folded; zero-width and bidi controls dropped (U+200B-U+200F,
    U+2060, U+FEFF, U+061C, U+202A-U+202E, U+2066-U+2069); emoji variation selectors,
    skin tones and the keycap mark dropped (so 👍🏽 is 👍 and 2️⃣ is 2); curly
    apostrophes made straight; every Unicode decimal digit (Arabic-Indic, Extended
    Arabic-Indic, Bengali, Devanagari...) read as ASCII. Words are split at whitespace
    and at punctuation other than apostrophes, hyphens and a decimal point or comma
    between digits ("P12:yes" is "p12 yes", "don't" and "dad-danysgrifio" stay whole),
    each word loses the punctuation around it, emoji are words of their own. Keywords
    are also compared "folded": Latin diacritics removed ("nao" is "não", "ma abtin" is
    "mă abțin", ł is l), and for Arabic script the optional vowel marks (harakat) and
    tatweel removed and letter variants unified (أ إ آ → ا, ي ى → ی, ك → ک, ة ه → ہ,
    ں → ن) so Arabic and Urdu keyboards meet. Bengali is never folded: its vowel signs
    are combining marks that change the word.

Forgiving matching
    Runs of a repeated letter ("yesss", "noooo", "لاااا") match when the run is three
    long or at the end of the word ("noon" stays "noon"). One typo (insertion, deletion,
    substitution or transposition) is forgiven for Latin keywords of five letters or
    more other than votes, and for STOP and HELP, when only one meaning is that close and
    the word stands alone (with filler or a code): "stpo", "resluts". Never in a longer
    sentence, and never for slang or weak words. Three-letter "stp" is not STOP: in
    French it is "s'il te plaît". The safe side for STOP is to honour it, so a lone
    "shop" or "cancer" opts out (and the confirmation says how to come back). Letters
    spelt out ("S.T.O.P", "Y E S") are read as the word.
    Vote words have rules of their own (app/domain/typos.py): one swapped, doubled or
    dropped letter in each language's plain vote words of three letters or more ("yse",
    "tka", "nei", "abstian"), read as a weak vote (so "yse but only if..." keeps its
    comment), never when the slip is a keyword, one edit from a keyword of another
    meaning, or a common word. The Intent's `typo` then holds the word as typed, and
    the confirmation quotes it.

Order of rules
    1. Nothing left after normalising: "empty".
    2. STOP wins. A message is STOP when it has a stop keyword and every other word is
       filler: polite words, pronouns, "texting/messages/sms", greetings, a code, emoji,
       a vote word ("no, stop!"); at most eight filler words (repeated STOPs do not
       count), and no negation before the keyword. "stop", "STOP!!!", "please stop
       texting me, I'm not interested", "remove my number", "dad-danysgrifio",
       "بند کریں" are STOP; "we should stop the road closure",
       "don't stop the project" and "the bus stop is too far" are text.
    3. START the same way (start keyword and filler only): "start", "join please".
    4. Otherwise the head: an optional code, skippable greetings and prefixes ("hi",
       "I vote", "option"), then the first meaningful word decides:
       HELP (and INFO alone) → help; INFO with a code → info; MORE → info; RESULTS
       → results; LINK (lien, enlace, dolen, رابط, লিংক...) → link; each with only
       filler or a code after it, else the message is text ("the link is broken").
       LANG word → language, with up to three words after it: a code (cy), a name in
       English, natively or in another supported language (welsh, Cymraeg, gymraeg,
       العربية, bangla), or a menu number 1-10 in LANGUAGES order; anything else
       is returned as `argument`; more than three words and it is text.
       A vote word, vote emoji or a number 1..99 → vote.
       A code alone (with filler) → info on that code.
    5. Anything else → text, with the whole message (trimmed) as the comment and the
       code if the message started with one.

Codes
    1-3 Latin letters then 1-4 digits ("P12", "ab3", "Q2024"), any case, any digits,
    punctuation around allowed ("#p12", "(P12)", "P12:"), also "p-12" and "P 12" (one
    letter that is not itself a word: not a, e, i, n, o, s, u, x, y). Recognised only as the first
    word (after greetings), right after a vote or INFO/MORE/RESULTS word ("yes p12",
    "yes to p12", "results for p12"), or glued to a vote ("P12yes"). "flat B12" in a
    comment is not a code. "yes1" alone is "yes!" typed without shift, not code YES1.

Votes and comments
    Strong vote words ("yes", "no", "oui", "tak", "نعم", "হ্যাঁ", 👍...) may be
    followed by a comment: "yes but only if it's weekends" → yes, comment "but only if
    it's weekends" (original text, separators removed). Weak words, which are also
    ordinary words somewhere ("y", "n", "a", "si" (es/fr "if"), "ie" (i.e.), "do", "na",
    "dim", "pass", "sure", "agree", "blanc", "جی"...) and numbers take a comment only
    after punctuation ("a, I don't live there", "2 - the blue one"), before a
    conjunction ("y but later", "si pero..."), or, for a number, right after a code or
    "vote"/"option" ("P12 2 the blue one"); otherwise the message is text ("a lot of people",
    "si llueve", "2 people came"). Filler after a vote is not a comment ("yes please",
    "no thank you", "yes!!", "👍👍", "yes 😊", "yes x"). Conflicting votes ("yes no",
    "👍👎", "yes and no") are text. Common "I don't know" / determiner phrases that
    begin with a no-word are text: "no one...", "no idea", "no sé", "não sei", "nie
    wiem", "nu știu", "لا أعرف", "not sure". "ok" and "thanks" alone are text: after a
    confirmation they acknowledge it, and a flipped vote is worse than a comment.

Clashes between languages and how they are resolved
    na      Welsh "no"; Polish/Portuguese "on/in": weak, so "na pewno nie" is text.
            Bengali "না" is another script: no clash, hint "bn".
    da      Romanian "yes" (strong); Polish/Portuguese "gives/of the" rarely lead a text.
    nu      Romanian "no" (strong); "nu știu" (don't know) is text.
    si      Spanish "yes" without its accent and French "yes (contradicting)", but also
            "if" in both: weak. "sí" with the accent is strong, hint "es".
    no      English and Spanish "no"; hint None.
    do, ie  Welsh "yes"; English "do", "ie" (i.e.): weak.
    a       "abstain" alone; an article/preposition in several languages: weak.
    mas     Spanish "más" (MORE) typed without accent; Portuguese "but": MORE alone,
            a conjunction after a vote ("sim mas...").
    mais    Portuguese MORE alone; French "but" after a vote ("oui mais...").
    plus    French MORE.
    para    Spanish/Portuguese "stop!" (STOP alone); "for" in a sentence is text.
    alto, fin, fim, end, cancel, baja, alta
            STOP/START only alone or with filler, so sentences using them are text.
    info    INFO in six languages: alone it is help, with a code it is info.
    idioma  LANG word in Spanish and Portuguese; hint None.
    ختم/بند Urdu STOP words; Arabic "seal"/"item": STOP only alone or with filler.
    ফল      Bengali "fruit/result": RESULTS only alone or with a code.
    ok, vale, iawn, ٹھیک ہے, ঠিক আছে ("OK") are not votes: see above.

`hint` is the language of the matched keyword when exactly one language owns it
("oui" → fr, "na" → cy, "stop" → None), for the domain to suggest a language change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TypeVar

from . import typos

__all__ = ["LANGUAGES", "Intent", "language_name", "normalise", "parse"]

LANGUAGES = ("en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn")


@dataclass(frozen=True, slots=True)
class Intent:
    """What a member's text means.

    kind is one of "stop", "start", "help", "language", "vote", "info", "results",
    "link", "text", "empty". `code` is a consultation code named in the text (upper-case
    ASCII); `choice` ("yes"/"no"/"abstain"/"1".."99") and `comment` go with votes, and
    a "text" intent carries the whole trimmed text as `comment`; `language`/`argument`
    go with "language" (None/None shows the menu); `hint` is the language the keyword
    belongs to when only one language owns it. `typo` is the word as the member typed it
    (normalised) when a vote was read from a forgiven slip (`app.domain.typos`), so the
    confirmation can say what was understood.
    """

    kind: str
    code: str | None = None
    choice: str | None = None
    comment: str | None = None
    language: str | None = None
    argument: str | None = None
    hint: str | None = None
    typo: str | None = None


_NATIVE_NAMES = {
    "en": "English",
    "cy": "Cymraeg",
    "es": "Español",
    "fr": "Français",
    "pt": "Português",
    "pl": "Polski",
    "ro": "Română",
    "ar": "العربية",
    "ur": "اردو",
    "bn": "বাংলা",
}


def language_name(code: str) -> str:
    """The language's own name in its own script ("cy" → "Cymraeg"); KeyError if unknown."""
    return _NATIVE_NAMES[code]


# --------------------------------------------------------------------------- characters

_INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u061c"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Presentation details that never change what an emoji means.
_EMOJI_DETAIL = "\ufe0e\ufe0f\u20e3" + "".join(map(chr, range(0x1F3FB, 0x1F400)))
_APOSTROPHES = "\u2018\u2019\u02bc\u0060\u00b4"
_KEEP_IN_WORDS = "'\u2018\u2019-\u2010\u2011"

_PUNCT = "".join(c for c in map(chr, range(0x10000)) if unicodedata.category(c)[0] == "P")
_PUNCT_SET = frozenset(_PUNCT)
_SEPARATORS = "".join(re.escape(c) for c in _PUNCT if c not in _KEEP_IN_WORDS)
_EMOJI = (
    "\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_MODS = "\ufe0e\ufe0f\u20e3\u200d\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
_TOKEN_RE = re.compile(
    rf"(?P<e>[{_EMOJI}][{_EMOJI_MODS}]*)"
    rf"|(?P<w>(?:[^\s{_SEPARATORS}{_EMOJI}]|(?<=\d)[.,](?=\d))+)"
)


# The translate tables learn characters as they are seen; a text made of thousands of
# distinct characters must not grow them without bound.
_CACHE_LIMIT = 8192


class _CharMap(dict[int, int | str | None]):
    """str.translate table for normalising, filled per character on first sight."""

    def __missing__(self, cp: int) -> int | str | None:
        c = chr(cp)
        if c in _INVISIBLE or c in _EMOJI_DETAIL:
            value: int | str | None = None
        elif c in _APOSTROPHES:
            value = "'"
        elif c in "\u2010\u2011":
            value = "-"
        elif c.isdecimal():
            value = str(unicodedata.decimal(c))
        else:
            value = cp
        if len(self) < _CACHE_LIMIT:
            self[cp] = value
        return value


_LATIN_SPECIAL = {"ł": "l", "đ": "d", "ø": "o", "ı": "i", "ħ": "h", "œ": "oe", "æ": "ae"}
# Arabic-script letters typed differently on Arabic and Urdu keyboards, and optional
# vowel marks; unified only for comparing keywords.
_ARABIC_FOLD = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ي": "ی",
    "ى": "ی",
    "ك": "ک",
    "ة": "ہ",
    "ه": "ہ",
    "ں": "ن",
    "\u0640": None,  # tatweel, stretches a word for emphasis
    **{chr(cp): None for cp in range(0x064B, 0x0653)},  # harakat
    "\u0670": None,  # superscript alef
}


class _FoldMap(dict[int, int | str | None]):
    """str.translate table for keyword comparison: Latin diacritics off, Arabic unified."""

    def __missing__(self, cp: int) -> int | str | None:
        c = chr(cp)
        value: int | str | None = cp
        if c in _LATIN_SPECIAL:
            value = _LATIN_SPECIAL[c]
        elif 0xC0 <= cp <= 0x24F or 0x1E00 <= cp <= 0x1EFF:
            decomposed = unicodedata.normalize("NFD", c)
            value = "".join(ch for ch in decomposed if not unicodedata.combining(ch)) or cp
        elif 0x300 <= cp <= 0x36F or 0x1AB0 <= cp <= 0x1AFF or 0x1DC0 <= cp <= 0x1DFF:
            value = None  # Latin combining diacritics that did not compose
        elif c in _ARABIC_FOLD:
            value = _ARABIC_FOLD[c]
        if len(self) < _CACHE_LIMIT:
            self[cp] = value
        return value


_CHARMAP = _CharMap()
_FOLDMAP = _FoldMap()


class _Tok:
    """One word of the text: normalised, folded, and where it was in the original."""

    __slots__ = ("emoji", "end", "fold", "norm", "start")

    def __init__(self, norm: str, fold: str, start: int, end: int, emoji: bool) -> None:
        self.norm, self.fold, self.start, self.end, self.emoji = norm, fold, start, end, emoji


def _norm_parts(raw: str) -> list[str]:
    if raw.isascii():
        word = raw.lower().strip(_PUNCT)
        return [word] if word else []
    compat = unicodedata.normalize("NFKC", raw)
    word = compat.translate(_CHARMAP).casefold()
    if compat == raw:
        word = word.strip(_PUNCT)
        return [word] if word else []
    # NFKC can turn one character into punctuation and words ("⒜" → "(a)", "⑴" → "(1)").
    return [p for p in (m.group().strip(_PUNCT) for m in _TOKEN_RE.finditer(word)) if p]


def _fold(word: str) -> str:
    return word if word.isascii() else word.translate(_FOLDMAP)


def _scan(text: str, limit: int = 0) -> list[_Tok]:
    """The words of `text`; with `limit`, stop once there are more than `limit`."""
    toks: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text):
        emoji = m.lastgroup == "e"
        for part in _norm_parts(m.group()):
            toks.append(_Tok(part, _fold(part), m.start(), m.end(), emoji))
        if limit and len(toks) > limit:
            break
    return toks


def normalise(text: str) -> str:
    """The normalised form used for matching: words as described above, one space apart."""
    return " ".join(t.norm for t in _scan(text))


# --------------------------------------------------------------------------- keywords

# Per language and meaning, "|"-separated keywords and phrases. A trailing "?" on the
# meaning marks weak words (see the module docstring). "not" lists phrases that start
# with a vote word but are not votes.
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "stop": "stop|stopall|stop all|stop it|unsubscribe|unsub|cancel|end|quit|opt out|optout"
        "|opt-out|remove|remove me|delete|delete me|take me off|no more texts|no more messages"
        "|don't text me|dont text me|do not text me|leave me alone",
        "start": "start|unstop|join|subscribe|resume|opt in|optin|opt-in|rejoin|sign up|signup"
        "|sign me up",
        "help": "help|commands",
        "info": "info|information",
        "more": "more|more info|more information|tell me more|details|more details|full text",
        "results": "results|result|tally",
        "language": "lang|language|languages",
        "link": "link|links|my link|weblink|web link|url",
        "yes": "yes|yeah|yea|yep|yup|yeh|aye|yay|a yes",
        "yes?": "y|sure|agree|agreed|i agree|of course|absolutely|definitely|in favour|in favor",
        "no": "no|nope|nah|nay|no way|a no",
        "no?": "n|disagree|i disagree|against|never",
        "abstain": "abstain|abstention|i abstain|abstaining",
        "abstain?": "a|pass|neutral|no opinion|no preference",
        "not": "no one|no-one|no idea|no problem|no worries|no clue|no matter|yes and no"
        "|not sure|no comment",
    },
    "cy": {
        "stop": "stopio|stop|dad-danysgrifio|dad danysgrifio|diwedd|canslo|gorffen",
        "start": "ymuno|dechrau|tanysgrifio|ailddechrau",
        "help": "cymorth|help|helpu",
        "info": "gwybodaeth",
        "more": "mwy|rhagor|mwy o wybodaeth",
        "results": "canlyniadau|canlyniad",
        "language": "iaith",
        "link": "dolen|linc|fy nolen",
        "yes": "oes|ydw|ydy|ydyn|ydyw",
        "yes?": "ie|do|cytuno",
        "no": "nage|naddo|nac oes|nac ydw|nac ydy|dim diolch",
        "no?": "na|dim|anghytuno",
        "abstain": "ymatal|ymataliaf|ymatal rhag pleidleisio",
    },
    "es": {
        "stop": "baja|darme de baja|dar de baja|parar|para|alto|cancelar|detener|basta|fin"
        "|no más mensajes",
        "start": "unirse|unirme|alta|darme de alta|dar de alta|empezar|comenzar|suscribirme",
        "help": "ayuda|ayúdame",
        "info": "información|info",
        "more": "más|más información|más info",
        "results": "resultados|resultado",
        "language": "idioma|lengua",
        "link": "enlace|mi enlace|vínculo|link",
        "yes": "sí",
        "yes?": "si|claro|de acuerdo|estoy de acuerdo|a favor",
        "no": "no|no estoy de acuerdo",
        "no?": "en contra",
        "abstain": "abstención|me abstengo|abstengo|abstenerme",
        "abstain?": "en blanco|paso",
        "not": "no sé|no lo sé|no entiendo|no tengo idea",
    },
    "fr": {
        "stop": "stop|arrêt|arrêter|arrêtez|arrête|désabonner|me désabonner|désabonnement"
        "|désinscrire|désinscription|annuler|fin",
        "start": "rejoindre|commencer|démarrer|abonner|m'abonner|inscrire|m'inscrire|reprendre",
        "help": "aide|aidez-moi|aidez moi|aide-moi",
        "info": "info|infos|information|informations",
        "more": "plus|plus d'infos|plus d'info|plus d'informations|en savoir plus",
        "results": "résultats|résultat",
        "language": "langue",
        "link": "lien|mon lien",
        "yes": "oui|ouais",
        "yes?": "si|d'accord|je suis d'accord|pour",
        "no": "non|pas d'accord|je ne suis pas d'accord",
        "no?": "nan|contre",
        "abstain": "abstention|je m'abstiens|m'abstiens|abstiens|vote blanc",
        "abstain?": "blanc|neutre",
    },
    "pt": {
        "stop": "parar|pare|sair|cancelar|fim|descadastrar|cancelar inscrição|stop",
        "start": "entrar|começar|iniciar|participar|aderir|inscrever",
        "help": "ajuda",
        "info": "informação|informações|info",
        "more": "mais|mais informações|mais info|saber mais",
        "results": "resultados|resultado",
        "language": "língua|idioma",
        "link": "link|meu link",
        "yes": "sim",
        "yes?": "s|claro|concordo|com certeza",
        "no": "não|não concordo",
        "no?": "n|discordo",
        "abstain": "abstenção|abstenho|me abstenho|abstenho-me",
        "abstain?": "em branco|neutro",
        "not": "não sei",
    },
    "pl": {
        "stop": "stop|koniec|wypisz|wypisz mnie|rezygnuję|rezygnacja|anuluj|przestań"
        "|przestańcie|zakończ",
        "start": "dołącz|start|zapisz|zapisz mnie|wznów|dołączam",
        "help": "pomoc|pomocy",
        "info": "informacja|informacje|info",
        "more": "więcej|więcej informacji",
        "results": "wyniki|wynik",
        "language": "język",
        "link": "link|mój link|łącze|odnośnik",
        "yes": "tak",
        "yes?": "jasne|oczywiście|zgadzam się|zgoda|za",
        "no": "nie|nie zgadzam się",
        "no?": "przeciw",
        "abstain": "wstrzymuję się|wstrzymuję|wstrzymanie|wstrzymanie się",
        "not": "nie wiem",
    },
    "ro": {
        "stop": "stop|dezabonare|dezabonează|dezabonez|oprește|opriți|anulare|renunț",
        "start": "start|abonare|abonează|înscriere|pornire|începe|alăturare",
        "help": "ajutor",
        "info": "informații|info",
        "more": "mai mult|mai multe|detalii|mai multe informații",
        "results": "rezultate|rezultat|rezultatele",
        "language": "limba|limbă|limbaj",
        "link": "link|linkul|legătura|legătură",
        "yes": "da",
        "yes?": "sigur|desigur|de acord|sunt de acord",
        "no": "nu|nu sunt de acord",
        "no?": "împotrivă|contra",
        "abstain": "abțin|mă abțin|abținere|abțineri|mă abțin de la vot",
        "not": "nu știu",
    },
    "ar": {
        "stop": "توقف|قف|الغاء|إلغاء|إيقاف|ايقاف|أوقف|اوقف|إلغاء الاشتراك|الغاء الاشتراك|ستوب",
        "start": "انضمام|انضم|اشتراك|اشترك|ابدأ|بدء",
        "help": "مساعدة|ساعدني",
        "info": "معلومات",
        "more": "المزيد|مزيد|المزيد من المعلومات|أكثر",
        "results": "النتائج|نتائج|النتيجة|نتيجة",
        "language": "لغة|اللغة",
        "link": "رابط|الرابط|رابطي|لينك",
        "yes": "نعم|أيوه|ايوا|أجل|بلى",
        "yes?": "موافق|أكيد",
        "no": "لا|لأ|كلا|لا أوافق|غير موافق",
        "abstain": "امتناع|ممتنع|أمتنع|الامتناع",
        "abstain?": "محايد",
        "not": "لا أعرف|لا أدري",
    },
    "ur": {
        "stop": "بند|بند کریں|بند کرو|روکیں|روکو|ختم|ختم کریں|منسوخ|band karo|band karein",
        "start": "شروع|شروع کریں|شامل|شامل ہوں|shuru",
        "help": "مدد|مدد کریں|madad",
        "info": "معلومات",
        "more": "مزید|مزید معلومات",
        "results": "نتائج|نتیجہ|نتیجے",
        "language": "زبان",
        "link": "لنک|لنک بھیجیں|link",
        "yes": "ہاں|جی ہاں|ہاں جی|haan|ji haan",
        "yes?": "جی|بالکل|ji|han",
        "no": "نہیں|جی نہیں|نہیں جی|nahi|nahin",
        "no?": "نہ|نا",
        "abstain": "غیر جانبدار|غیرجانبدار",
    },
    "bn": {
        "stop": "বন্ধ|বন্ধ করুন|বন্ধ কর|বন্ধ করো|থামুন|থামো|বাতিল|bondho|bondho koro",
        "start": "শুরু|শুরু করুন|যোগ দিন|যোগদান",
        "help": "সাহায্য|সাহায্য করুন|হেল্প",
        "info": "তথ্য",
        "more": "আরও|আরো|আরও তথ্য|বিস্তারিত",
        "results": "ফলাফল|ফল",
        "language": "ভাষা",
        "link": "লিংক|লিঙ্ক|লিংকটি",
        "yes": "হ্যাঁ|হ্যা|হাঁ|hya|hyan",
        "yes?": "হা|জি|জী|একমত|রাজি",
        "no": "না|জি না|নাহ",
        "abstain": "বিরত|বিরত থাকব|বিরত থাকবো|নিরপেক্ষ",
    },
    # Emoji belong to no language.
    "": {
        "yes": "👍|✅|✔|✓|☑",
        "no": "👎|❌|✖|✗|✘|❎",
    },
}

_LANGUAGE_NAMES: dict[str, str] = {
    "en": "english|saesneg|inglés|anglais|inglês|angielski|engleză|الإنجليزية|انجليزي"
    "|انگریزی|ইংরেজি",
    "cy": "welsh|cymraeg|gymraeg|galés|gallois|galês|walijski|galeză|الويلزية|ویلش|ওয়েলশ",
    "es": "spanish|español|castellano|espagnol|espanhol|hiszpański|spaniolă|sbaeneg"
    "|الإسبانية|ہسپانوی|স্প্যানিশ",
    "fr": "french|français|francés|francês|francuski|franceză|ffrangeg|الفرنسية|فرانسیسی|ফরাসি",
    "pt": "portuguese|português|portuguesa|portugués|portugais|portugalski|portugheză"
    "|portiwgaleg|البرتغالية|پرتگالی|পর্তুগিজ",
    "pl": "polish|polski|polaco|polonais|polonês|poloneză|pwyleg|البولندية|پولش|পোলিশ",
    "ro": "romanian|română|românește|rumano|roumain|romeno|rumuński|rwmaneg|الرومانية"
    "|رومانیائی|রোমানিয়ান",
    "ar": "arabic|العربية|عربي|árabe|arabe|arabski|arabă|arabeg|عربی|আরবি",
    "ur": "urdu|اردو|urdú|ourdou|উর্দু",
    "bn": "bengali|bangla|বাংলা|bengalí|bengalski|bengaleză|bengaleg|بنغالي|بنگالی",
}


def _words(spec: str) -> frozenset[str]:
    """Folded single words from a whitespace-separated list."""
    return frozenset(t.fold for t in _scan(spec))


# Polite words and sign-offs: after a vote they are not a comment.
_POLITE = _words("""
    please pls plz plez plse pleez thanks thank you thankyou thanx thx tnx ty ta cheers
    kind regards ok okay cool great lol now from me
    por favor porfa porfavor gracias muchas
    merci beaucoup svp stp s'il vous te plaît
    diolch plis os gwelwch yn dda fawr iawn
    obrigado obrigada obg brigado
    proszę dziękuję dzięki bardzo
    mulțumesc mersi mulțam vă rog frumos
    شكرا من فضلك لو سمحت جزيلا
    شکریہ مہربانی براہ کرم پلیز بہت
    ধন্যবাদ প্লিজ দয়া করে অনেক
""")
_GREETINGS = _words("""
    hi hello hey hiya heya dear um umm erm er uh well so oh yo
    hola buenas buenos bonjour salut coucou shwmae helo s'mae olá ola oi
    cześć witam dzień dobry bună
    مرحبا اهلا السلام عليكم سلام ہیلو হ্যালো নমস্কার আসসালামু আলাইকুম
""")
# Words that can come before the meaningful one: "hi, I vote yes", "option 2".
_VOTE_PREFIX = _words("""
    vote voting answer choose pick option choice number
    voto elijo opción número votez choisis choix numéro pleidlais dewis rhif opsiwn
    escolho opção głosuję głos wybieram opcja numer votul aleg opțiunea opțiune numărul
    صوتي أصوت خيار الخيار رقم ووٹ آپشن نمبر ভোট বিকল্প নম্বর
""")
_LEAD = (
    _GREETINGS
    | _VOTE_PREFIX
    | _words("""
    ok okay i i'd i'll i'm im it's its hell heck my me is are say think need want reply the
    what what's whats send show see get give tell change set switch for to
    mi es yo digo je mon fy newid eu meu mój
    تغيير میرا تبدیل আমার পরিবর্তন
""")
)
# Between a vote/command word and a code: "yes to P12", "results for P12".
_CONNECT = _words("on for to re about in of para pour sur ar am dla pe pentru em sobre de")
# A conjunction lets a weak vote word take a comment: "y but later".
_CONJ = _words("""
    but because cos coz cause as since though although if only except however unless
    pero porque aunque solo sólo excepto mais car parce seulement sauf ond achos oherwydd
    mas pois só apenas exceto ale bo ponieważ tylko oprócz dar pentru deoarece doar însă
    fiindcă لكن ولكن لأن بس فقط لیکن مگر کیونکہ صرف কিন্তু কারণ শুধু তবে
""")
_NEGATORS = _words("don't dont not never didn't won't can't cant")
# Words that may surround STOP without making it a sentence about something else.
_STOP_FILLER = (
    _POLITE
    | _GREETINGS
    | _NEGATORS
    | _words("""
    me my i i'm im i'd want wanna would like to from this that the these those list number
    text texts texting txt txts txting message messages messaging msg msgs sms send sending
    all just immediately asap right away already anymore any more no can could you u your
    will interested how do
    ya mi de los las quiero mensajes mensaje más no todo todos enviar envíen
    je veux moi les des de messages plus tout
    fi i negeseuon neges nawr rŵan
    mensagens quero não mais agora todas
    mnie z listy już nie więcej wiadomości chcę teraz
    mă nu mai mesaje vreau să acum
    الرسائل رسائل ارجو رجاء الآن
    کریں کرو پیغامات میسج مجھے ابھی کو
    করুন কর করো মেসেজ এসএমএস আমাকে এখন
""")
)
_START_FILLER = (
    _POLITE
    | _GREETINGS
    | _words("""
    me i i'd i'm want would like to again back up in now let
    quiero volver de nuevo otra vez je veux encore eu quero novo chcę ponownie vreau din
    أريد جديد میں চাই আমি আবার
""")
)
_COMMAND_FILLER = _POLITE | _words("me i the us of send show")
_LANG_CONNECT = _words("to into in a en na para pour le em ar i w la în إلى میں is")
_KISSES = re.compile(r"x{1,5}")
_CODE_RE = re.compile(r"[a-z]{1,3}-?[0-9]{1,4}")
_CODE_GLUED_RE = re.compile(r"([a-z]{1,3}[0-9]{1,4})([a-z]+)")
_SHIFT_SLIP_RE = re.compile(r"(yes|no|yep|nah|sim|oui|non|tak|nie)1")
# A letter then a number, "P 12", is a code unless the letter is a word of its own.
_SPACED_CODE_LETTERS = frozenset("bcdfghjklmpqrtvwz")
_DIGITS4 = re.compile(r"[0-9]{1,4}")
_LATIN_WORD = re.compile(r"[a-z][a-z'-]{3,15}")
_RUN3 = re.compile(r"(.)\1\1")
_TRAIL2 = re.compile(r"(.)\1$")
_RUNS = re.compile(r"(.)\1+")


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str  # stop start help info more results link language vote not
    value: str | None  # yes/no/abstain for votes
    weak: bool
    langs: frozenset[str]


_Key = TypeVar("_Key", str, tuple[str, ...])


def _merge(table: dict[_Key, _Entry], key: _Key, entry: _Entry) -> None:
    old = table.get(key)
    if old is None:
        table[key] = entry
    elif (old.kind, old.value) != (entry.kind, entry.value):
        raise ValueError(f"keyword clash on {key!r}: {old} vs {entry}")
    else:
        table[key] = _Entry(old.kind, old.value, old.weak or entry.weak, old.langs | entry.langs)


_Phrases = dict[tuple[str, ...], _Entry]


def _build() -> tuple[dict[str, _Entry], dict[str, _Entry], _Phrases, _Phrases, int]:
    exact1: dict[str, _Entry] = {}
    folded1: dict[str, _Entry] = {}
    exact_n: dict[tuple[str, ...], _Entry] = {}
    folded_n: dict[tuple[str, ...], _Entry] = {}
    longest = 1
    for lang, meanings in _WORDS.items():
        langs = frozenset({lang}) if lang else frozenset()
        for meaning, spec in meanings.items():
            weak = meaning.endswith("?")
            base = meaning.rstrip("?")
            kind, value = ("vote", base) if base in ("yes", "no", "abstain") else (base, None)
            entry = _Entry(kind, value, weak, langs)
            for phrase in spec.split("|"):
                toks = _scan(phrase)
                if not toks:
                    raise ValueError(f"empty keyword in {lang}/{meaning}")
                if len(toks) == 1:
                    _merge(exact1, toks[0].norm, entry)
                    _merge(folded1, toks[0].fold, entry)
                else:
                    longest = max(longest, len(toks))
                    _merge(exact_n, tuple(t.norm for t in toks), entry)
                    _merge(folded_n, tuple(t.fold for t in toks), entry)
    return exact1, folded1, exact_n, folded_n, longest


_EXACT1, _FOLDED1, _EXACT_N, _FOLDED_N, _LONGEST = _build()
_PHRASE_STARTS = frozenset(k[0] for k in _EXACT_N) | frozenset(k[0] for k in _FOLDED_N)


def _collapse(word: str) -> str:
    return _RUNS.sub(r"\1", word)


def _build_collapsed() -> dict[str, _Entry]:
    table: dict[str, _Entry] = {}
    ambiguous: set[str] = set()
    for word, entry in _FOLDED1.items():
        key = _collapse(word)
        old = table.get(key)
        if old is not None and (old.kind, old.value) != (entry.kind, entry.value):
            ambiguous.add(key)
        else:
            _merge(table, key, entry)
    for key in ambiguous:
        del table[key]
    return table


_COLLAPSED = _build_collapsed()

# Typo tolerance is for the words people mean to type exactly; slang, short and weak
# words are too close to ordinary words ("nope"/"note", "basta"/"pasta").
_FUZZY_SHORT = frozenset({"stop", "help"})
_NO_FUZZY = frozenset({"basta", "tally", "ouais", "yeah"})


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _build_fuzzy() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for word, entry in _FOLDED1.items():
        if entry.weak or entry.kind == "not" or word in _NO_FUZZY:
            continue
        if not _LATIN_WORD.fullmatch(word) or (len(word) < 5 and word not in _FUZZY_SHORT):
            continue
        for variant in _deletes(word) | {word}:
            index.setdefault(variant, set()).add(word)
    return {k: frozenset(v) for k, v in index.items()}


_FUZZY = _build_fuzzy()


def _fuzzy(word: str) -> _Entry | None:
    if not _LATIN_WORD.fullmatch(word) or word in _POLITE or word in _LEAD:
        return None
    near: set[str] = set()
    for variant in _deletes(word) | {word}:
        near |= _FUZZY.get(variant, frozenset())
    hits = [_FOLDED1[w] for w in near if w != word and typos.within_one_edit(word, w)]
    if not hits or len({(e.kind, e.value) for e in hits}) != 1 or hits[0].kind == "vote":
        return None  # votes: only the slips app.domain.typos forgives
    langs = frozenset().union(*(e.langs for e in hits))
    return _Entry(hits[0].kind, hits[0].value, False, langs)


def _build_language_names() -> dict[tuple[str, ...], str]:
    names: dict[tuple[str, ...], str] = {}
    for code, spec in _LANGUAGE_NAMES.items():
        names[(code,)] = code
        for name in [*spec.split("|"), _NATIVE_NAMES[code]]:
            key = tuple(t.fold for t in _scan(name))
            if names.get(key, code) != code:
                raise ValueError(f"language name clash on {name!r}")
            names[key] = code
    return names


_LANGUAGE_KEYS = _build_language_names()


def _known_words() -> set[str]:
    """Words the grammar knows other than as a keyword of their own: the words of
    keyword phrases and language names, and the filler lists."""
    words = {w for key in _FOLDED_N for w in key} | {w for key in _LANGUAGE_KEYS for w in key}
    return (
        words
        | _POLITE
        | _GREETINGS
        | _LEAD
        | _CONNECT
        | _CONJ
        | _NEGATORS
        | _STOP_FILLER
        | _START_FILLER
        | _COMMAND_FILLER
        | _LANG_CONNECT
    )


# Slips forgiven in vote words ("yse", "tka", "abstian"), checked against every keyword
# above, whatever its kind: see app/domain/typos.py.
_TYPOS = typos.build(_FOLDED1, _known_words(), lambda word: " ".join(t.fold for t in _scan(word)))


# --------------------------------------------------------------------------- lexing


class _Lex:
    """A meaningful unit: a keyword (maybe several words), a code, a number or a word."""

    __slots__ = ("fuzzy", "i", "j", "kind", "langs", "typo", "value", "weak")

    def __init__(
        self,
        kind: str,
        value: str | None,
        i: int,
        j: int,
        weak: bool = False,
        langs: frozenset[str] = frozenset(),
        fuzzy: bool = False,
        typo: bool = False,
    ) -> None:
        self.kind, self.value, self.i, self.j = kind, value, i, j
        self.weak, self.langs, self.fuzzy, self.typo = weak, langs, fuzzy, typo


def _from_entry(entry: _Entry, i: int, j: int, fuzzy: bool = False) -> _Lex:
    return _Lex(entry.kind, entry.value, i, j, entry.weak, entry.langs, fuzzy)


def _lex_at(toks: list[_Tok], p: int, fuzzy: bool) -> _Lex:
    tok = toks[p]
    if tok.norm in _PHRASE_STARTS or tok.fold in _PHRASE_STARTS:
        for length in range(min(_LONGEST, len(toks) - p), 1, -1):
            window = toks[p : p + length]
            entry = _EXACT_N.get(tuple(t.norm for t in window)) or _FOLDED_N.get(
                tuple(t.fold for t in window)
            )
            if entry:
                return _from_entry(entry, p, p + length)
    entry = _EXACT1.get(tok.norm) or _FOLDED1.get(tok.fold)
    if entry:
        return _from_entry(entry, p, p + 1)
    word = tok.fold
    if _CODE_RE.fullmatch(word):
        return _Lex("code", word.replace("-", "").upper(), p, p + 1)
    if word in _SPACED_CODE_LETTERS and p + 1 < len(toks) and _DIGITS4.fullmatch(toks[p + 1].fold):
        return _Lex("code", (word + toks[p + 1].fold).upper(), p, p + 2)  # "P 12"
    if word.isascii() and word.isdigit():
        # Only one or two significant digits can be a choice; never int() a long run
        # (Python refuses more than 4,300 digits, and a text may hold 1,600).
        significant = word.lstrip("0")
        if 1 <= len(significant) <= 2:
            return _Lex("number", significant, p, p + 1, weak=True)
        return _Lex("word", None, p, p + 1)
    if tok.emoji:
        return _Lex("emoji", None, p, p + 1)
    if _RUN3.search(word) or _TRAIL2.search(word):
        entry = _COLLAPSED.get(_collapse(word))
        if entry:
            return _from_entry(entry, p, p + 1)
    reading = _TYPOS.read(word)
    if reading:  # a slip of a vote word, weak: a comment only after punctuation or "but"
        return _Lex("vote", reading.choice, p, p + 1, True, reading.langs, typo=True)
    if fuzzy:
        entry = _fuzzy(word)
        if entry:
            return _from_entry(entry, p, p + 1, fuzzy=True)
    return _Lex("word", None, p, p + 1)


def _lex(toks: list[_Tok], fuzzy: bool) -> list[_Lex]:
    out: list[_Lex] = []
    p = 0
    while p < len(toks):
        lex = _lex_at(toks, p, fuzzy)
        out.append(lex)
        p = lex.j
    return out


def _all_in(toks: list[_Tok], lex: _Lex, words: frozenset[str]) -> bool:
    return all(t.fold in words for t in toks[lex.i : lex.j])


def _is_polite(toks: list[_Tok], lex: _Lex) -> bool:
    return all(t.fold in _POLITE or _KISSES.fullmatch(t.fold) for t in toks[lex.i : lex.j])


def _hint(langs: frozenset[str]) -> str | None:
    return next(iter(langs)) if len(langs) == 1 else None


# --------------------------------------------------------------------------- parsing

_HEAD = 12  # words looked at; the rest of a long text is only ever a comment
_STOP_MAX_FILLER = 8  # "can you please stop sending me these messages"
_FUZZY_MAX_WORDS = 4
_EMPTY = Intent("empty")
_COMMENT_LEAD = " \t\r\n-\u2013\u2014:;,.\u2026" + _INVISIBLE


def parse(text: str) -> Intent:
    """What `text` means: the `Intent` of a member's SMS, by the rules in the module docstring."""
    toks = _scan(text, _HEAD)
    if not toks:
        return _EMPTY
    more = len(toks) > _HEAD
    toks = toks[:_HEAD]
    _unglue(text, toks)
    lexes = _lex(toks, fuzzy=not more and len(toks) <= _FUZZY_MAX_WORDS)
    if more and _no_real_words(toks, lexes):
        # "STOP STOP STOP ..." or "👍👍👍 ...": only the whole text can say what it is.
        toks, more = _scan(text), False
        lexes = _lex(toks, fuzzy=False)
    if not more:
        intent = _match_stop(toks, lexes) or _match_start(toks, lexes)
        if intent:
            return intent
    return _match_head(text, toks, lexes, more) or _text(text, toks, lexes)


def _no_real_words(toks: list[_Tok], lexes: list[_Lex]) -> bool:
    """Whether the words seen so far are all keywords, codes, emoji or STOP filler."""
    for lex in lexes:
        if lex.kind not in ("stop", "vote", "number", "emoji", "code") and not _all_in(
            toks, lex, _STOP_FILLER
        ):
            return False
    return True


def _unglue(text: str, toks: list[_Tok]) -> None:
    """Split "P12yes" (or "P12yse") into code and keyword; read "yes1" as "yes!", "S.T.O.P"
    as "stop"."""
    first = toks[0]
    if 1 < len(toks) <= _HEAD and all(len(t.fold) == 1 and t.fold.isalpha() for t in toks):
        word = "".join(t.fold for t in toks)
        if word in _EXACT1 or word in _FOLDED1:
            toks[:] = [_Tok(word, word, first.start, toks[-1].end, False)]
            return
    slip = _SHIFT_SLIP_RE.fullmatch(first.fold)
    if slip and len(toks) == 1:
        first.norm = first.fold = slip[1]
        return
    glued = _CODE_GLUED_RE.fullmatch(first.fold)
    if glued and (glued[2] in _EXACT1 or glued[2] in _FOLDED1 or _TYPOS.read(glued[2])):
        raw = text[first.start : first.end]
        cut = first.end - len(glued[2]) if raw.lower().endswith(glued[2]) else first.start
        toks[0:1] = [
            _Tok(glued[1], glued[1], first.start, cut, False),
            _Tok(glued[2], glued[2], cut, first.end, False),
        ]


def _text(text: str, toks: list[_Tok], lexes: list[_Lex]) -> Intent:
    """Free text: the whole message, with the code it starts with (after greetings)."""
    code = None
    for lex in lexes:
        if lex.kind == "code":
            code = lex.value
        if lex.kind == "code" or not _all_in(toks, lex, _LEAD):
            break
    return Intent("text", code=code, comment=text.strip())


def _match_stop(toks: list[_Tok], lexes: list[_Lex]) -> Intent | None:
    """STOP when a stop keyword comes with nothing but filler (rule 2)."""
    hit: _Lex | None = None
    code = None
    filler = 0
    for lex in lexes:
        if lex.kind == "stop":
            hit = hit or lex
        elif lex.kind == "code":
            code = code or lex.value
        elif lex.kind in ("vote", "emoji"):
            continue
        else:
            for tok in toks[lex.i : lex.j]:
                if tok.fold in _NEGATORS and hit is None:
                    return None  # "don't stop the project"
                if tok.fold not in _STOP_FILLER and not tok.emoji:
                    return None
                filler += 1
    if hit is None or filler > _STOP_MAX_FILLER:
        return None
    return Intent("stop", code=code, hint=_hint(hit.langs))


def _match_start(toks: list[_Tok], lexes: list[_Lex]) -> Intent | None:
    """START when a start keyword comes with nothing but filler (rule 3)."""
    hit: _Lex | None = None
    code = None
    for lex in lexes:
        if lex.kind == "start":
            hit = hit or lex
        elif lex.kind == "code":
            code = code or lex.value
        elif lex.kind != "emoji" and not _all_in(toks, lex, _START_FILLER):
            return None
    return Intent("start", code=code, hint=_hint(hit.langs)) if hit else None


def _match_head(text: str, toks: list[_Tok], lexes: list[_Lex], more: bool) -> Intent | None:
    """Skip a code and leading filler; the first meaningful word decides (rule 4)."""
    code = None
    anchored = False  # a code or "vote"/"option" right before a number lets it take a comment
    i = 0
    while i < len(lexes):
        lex = lexes[i]
        if lex.kind == "code" and code is None:
            code, anchored = lex.value, True
        elif lex.kind == "emoji" or (lex.kind == "word" and _all_in(toks, lex, _LEAD)):
            if i == len(lexes) - 1 and not more:
                break  # the last word is the message: "ok", "hello"
            anchored = _all_in(toks, lex, _VOTE_PREFIX)
        else:
            break
        i += 1
    rest = lexes[i + 1 :]
    if i >= len(lexes) or (lexes[i].kind not in _HEAD_KINDS and code):
        # A code with nothing meaningful after it: "P12", "what is P12?", "P12 thanks".
        if code and not more and all(_is_polite(toks, x) or x.kind == "emoji" for x in lexes[i:]):
            return Intent("info", code=code)
        return None
    head = lexes[i]
    kind = head.kind
    if kind in ("help", "info", "more", "results", "link"):
        return _match_command(toks, head, rest, code, more)
    if kind == "language":
        return _match_language(text, toks, head, more)
    if kind in ("vote", "number"):
        return _match_vote(text, toks, lexes, i, code, anchored, more)
    return None


_HEAD_KINDS = frozenset({"help", "info", "more", "results", "link", "language", "vote", "number"})
_COMMAND_EXTRAS = {
    "help": frozenset({"help"}),
    "info": frozenset({"info", "more"}),
    "more": frozenset({"info", "more"}),
    "results": frozenset({"results"}),
    "link": frozenset({"link"}),
}


def _match_command(
    toks: list[_Tok], head: _Lex, rest: list[_Lex], code: str | None, more: bool
) -> Intent | None:
    """HELP, INFO, MORE, RESULTS or LINK with only filler, connectors and a code after it."""
    if more:
        return None
    extras = _COMMAND_EXTRAS[head.kind]
    for k, lex in enumerate(rest):
        if lex.kind == "code" and code is None:
            code = lex.value
        elif lex.kind in extras or _all_in(toks, lex, _COMMAND_FILLER):
            continue
        elif not (
            _all_in(toks, lex, _CONNECT) and k + 1 < len(rest) and rest[k + 1].kind == "code"
        ):
            return None
    hint = _hint(head.langs)
    if head.kind in ("results", "link"):
        return Intent(head.kind, code=code, hint=hint)
    if head.kind == "help" or (head.kind == "info" and code is None):
        return Intent("help", code=code, hint=hint)
    return Intent("info", code=code, hint=hint)


def _match_language(text: str, toks: list[_Tok], head: _Lex, more: bool) -> Intent | None:
    """The LANG word and up to three words naming the language."""
    hint = _hint(head.langs)
    args = [t for t in toks[head.j :] if t.fold not in _POLITE]
    if more or len(args) > 3:
        return None  # "language barriers are a real problem here"
    if not args:
        return Intent("language", hint=hint)
    code = _resolve_language([t.fold for t in args])
    if code:
        return Intent("language", language=code, hint=hint)
    argument = text[args[0].start : args[-1].end].strip().strip(_PUNCT).strip()
    return Intent("language", argument=argument or None, hint=hint)


def _resolve_language(words: list[str]) -> str | None:
    """A language code from a name, code or menu number, dropping "to"/"in" in front."""
    while words:
        code = _LANGUAGE_KEYS.get(tuple(words))
        if code:
            return code
        if len(words) == 1:
            word = words[0]
            if word.isascii() and word.isdigit() and 1 <= int(word) <= len(LANGUAGES):
                return LANGUAGES[int(word) - 1]
            region = re.fullmatch(r"([a-z]{2})[-_][a-z]{2,4}", word)  # pt-BR, en_GB
            if region and region[1] in LANGUAGES:
                return region[1]
        if words[0] not in _LANG_CONNECT:
            return None
        words = words[1:]
    return None


def _match_vote(
    text: str,
    toks: list[_Tok],
    lexes: list[_Lex],
    i: int,
    code: str | None,
    anchored: bool,
    more: bool,
) -> Intent | None:
    """A vote: repeats and a code after it, then filler (no comment) or a comment."""
    head = lexes[i]
    choice = head.value
    j = i + 1
    while j < len(lexes):
        lex = lexes[j]
        if lex.kind in ("vote", "number") and lex.value == choice:
            j += 1  # "yes yes", "2 2"
        elif lex.kind == "code" and code is None:
            code, anchored = lex.value, True
            j += 1
        elif (
            code is None
            and j + 1 < len(lexes)
            and lexes[j + 1].kind == "code"
            and _all_in(toks, lex, _CONNECT)
        ):
            code, anchored = lexes[j + 1].value, True
            j += 2
        else:
            break
    rest = lexes[j:]
    hint = _hint(head.langs)
    typo = toks[head.i].norm if head.typo else None
    if not more:
        if all(_is_polite(toks, x) or x.kind == "emoji" for x in rest):
            return Intent("vote", code=code, choice=choice, hint=hint, typo=typo)
        if all(x.kind in ("vote", "number", "emoji") or _is_polite(toks, x) for x in rest):
            return None  # "yes no", "👍👎": conflicting votes
    last_end = toks[lexes[j - 1].j - 1].end
    start = toks[rest[0].i].start if rest else last_end
    if head.weak and not (anchored and head.kind == "number"):
        gap = text[last_end:start]
        follows_conj = bool(rest) and toks[rest[0].i].fold in _CONJ
        if not follows_conj and not any(c in _PUNCT_SET for c in gap):
            return None  # "a lot of people", "si llueve", "2 people came"
    comment = text[start:].strip().lstrip(_COMMENT_LEAD)
    return Intent("vote", code=code, choice=choice, comment=comment or None, hint=hint, typo=typo)
