"""Texting grammar: what a member's reply means, in ten languages.

Pure functions, no app: these tables are the executable form of PRODUCT.md's
"Texting grammar" section plus the rules documented in `app.domain.grammar`.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.grammar import LANGUAGES, Intent, language_name, normalise, parse

RLM, LRM, ALM = "\u200f", "\u200e", "\u061c"
RLE, PDF, RLI, PDI = "\u202b", "\u202c", "\u2067", "\u2069"
ZWSP, ZWJ, BOM, VS16 = "\u200b", "\u200d", "\ufeff", "\ufe0f"


# --------------------------------------------------------------------------- normalise

NORMALISE = [
    ("  YES!!! ", "yes"),
    ("Yes.", "yes"),
    ("P12:", "p12"),
    ("#p12", "p12"),
    ("(P12)", "p12"),
    ("multiple   spaces\there\n", "multiple spaces here"),
    ("yes,but", "yes but"),
    ("P12:yes", "p12 yes"),
    ("1.5", "1.5"),
    ("1,000", "1,000"),
    ("don’t", "don't"),
    ("dad-danysgrifio", "dad-danysgrifio"),
    ("Straße", "strasse"),
    ("Ｙｅｓ", "yes"),
    ("ＳＴＯＰ！", "stop"),
    ("Sí", "sí"),
    ("NÃO", "não"),
    ("٣", "3"),
    ("۳", "3"),
    ("৩", "3"),
    ("३", "3"),
    ("٢٠٢٤", "2024"),
    ("Q٢٠٢٤", "q2024"),
    ("①", "1"),
    ("0⒜", "0 a"),
    ("2" + VS16 + "\u20e3", "2"),
    (ZWSP + "stop" + ZWSP, "stop"),
    (BOM + "yes", "yes"),
    ("a" + ZWSP + "b", "ab"),
    (RLM + "نعم" + RLM, "نعم"),
    (RLE + "لا" + PDF, "لا"),
    (RLI + "نعم، شكرا" + PDI, "نعم شكرا"),
    (ALM + "؟نعم؟", "نعم"),
    ("হ্যাঁ।", "হ্যাঁ"),  # the Bengali vowel signs and candrabindu stay
    ("না", "না"),
    ("ہاں۔", "ہاں"),
    ("👍🏽", "👍"),
    ("👍" + VS16, "👍"),
    ("yes👍", "yes 👍"),
    ("👍👍", "👍 👍"),
    ("", ""),
    ("   ", ""),
    ("?!...", ""),
    (ZWSP + RLM, ""),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISE)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


# --------------------------------------------------------------------------- empty

EMPTY = ["", " ", "\n\t ", "...", "?!", "?", "!!!", "。", "¿¡", ZWSP, RLM + LRM, BOM, "- - -"]


@pytest.mark.parametrize("text", EMPTY)
def test_empty(text: str) -> None:
    assert parse(text) == Intent("empty")


# --------------------------------------------------------------------------- votes

# (text, choice, code, comment)
VOTES = [
    # English, short forms, slang, shouting, repeats, filler
    ("yes", "yes", None, None),
    ("YES", "yes", None, None),
    ("Yes.", "yes", None, None),
    (" yes ", "yes", None, None),
    ("y", "yes", None, None),
    ("Y", "yes", None, None),
    ("yeah", "yes", None, None),
    ("Yep", "yes", None, None),
    ("yup", "yes", None, None),
    ("aye", "yes", None, None),
    ("yesss", "yes", None, None),
    ("YESSSS!!!", "yes", None, None),
    ("yess", "yes", None, None),
    ("yes yes", "yes", None, None),
    ("YES YES YES", "yes", None, None),
    ("yes please", "yes", None, None),
    ("yes thanks", "yes", None, None),
    ("Yes thank you!", "yes", None, None),
    ("yes!!", "yes", None, None),
    ("yes pls x", "yes", None, None),
    ("yes1", "yes", None, None),
    ("Hi, yes please", "yes", None, None),
    ("ok yes", "yes", None, None),
    ("I vote yes", "yes", None, None),
    ("my vote is YES", "yes", None, None),
    ("sure", "yes", None, None),
    ("hell yes", "yes", None, None),
    ("hell no", "no", None, None),
    ("it's a no from me", "no", None, None),
    ("I'm a yes", "yes", None, None),
    ("Y E S", "yes", None, None),
    ("n.o.", "no", None, None),
    ("I agree", "yes", None, None),
    ("no", "no", None, None),
    ("NO", "no", None, None),
    ("n", "no", None, None),
    ("N.", "no", None, None),
    ("nope", "no", None, None),
    ("nah", "no", None, None),
    ("noooo", "no", None, None),
    ("no thank you", "no", None, None),
    ("no thanks", "no", None, None),
    ("No way", "no", None, None),
    ("I vote no", "no", None, None),
    ("disagree", "no", None, None),
    ("abstain", "abstain", None, None),
    ("Abstain.", "abstain", None, None),
    ("ABSTAIN", "abstain", None, None),
    ("a", "abstain", None, None),
    ("A", "abstain", None, None),
    ("abstention", "abstain", None, None),
    ("abstian", "abstain", None, None),  # transposition
    ("abstan", "abstain", None, None),  # deletion
    ("absstain", "abstain", None, None),  # insertion
    ("pass", "abstain", None, None),
    ("neutral", "abstain", None, None),
    ("no opinion", "abstain", None, None),
    # emoji, any skin tone, with or without the variation selector
    ("👍", "yes", None, None),
    ("👍🏻", "yes", None, None),
    ("👍🏽", "yes", None, None),
    ("👍🏿", "yes", None, None),
    ("👍" + VS16, "yes", None, None),
    ("👍👍", "yes", None, None),
    ("👍🏾👍🏾👍🏾", "yes", None, None),
    ("✅", "yes", None, None),
    ("✔", "yes", None, None),
    ("✔" + VS16, "yes", None, None),
    ("✓", "yes", None, None),
    ("☑️", "yes", None, None),
    ("yes 👍", "yes", None, None),
    ("yes 😊", "yes", None, None),
    ("😊 yes", "yes", None, None),
    ("👎", "no", None, None),
    ("👎🏼", "no", None, None),
    ("❌", "no", None, None),
    ("✖", "no", None, None),
    ("✖️", "no", None, None),
    ("no 👎", "no", None, None),
    # Welsh
    ("ie", "yes", None, None),
    ("Ie", "yes", None, None),
    ("oes", "yes", None, None),
    ("ydw", "yes", None, None),
    ("do", "yes", None, None),
    ("ie diolch", "yes", None, None),
    ("na", "no", None, None),
    ("Na", "no", None, None),
    ("nage", "no", None, None),
    ("naddo", "no", None, None),
    ("nac oes", "no", None, None),
    ("dim diolch", "no", None, None),
    ("na, dim diolch", "no", None, None),
    ("ymatal", "abstain", None, None),
    ("cytuno", "yes", None, None),
    # Spanish
    ("sí", "yes", None, None),
    ("Sí", "yes", None, None),
    ("si", "yes", None, None),
    ("SI", "yes", None, None),
    ("siii", "yes", None, None),
    ("sí por favor", "yes", None, None),
    ("si, gracias", "yes", None, None),
    ("no gracias", "no", None, None),
    ("me abstengo", "abstain", None, None),
    ("abstención", "abstain", None, None),
    ("abstencion", "abstain", None, None),
    ("de acuerdo", "yes", None, None),
    # French
    ("oui", "yes", None, None),
    ("Oui", "yes", None, None),
    ("OUI!", "yes", None, None),
    ("ouais", "yes", None, None),
    ("oui merci", "yes", None, None),
    ("oui svp", "yes", None, None),
    ("oui s'il vous plaît", "yes", None, None),
    ("d'accord", "yes", None, None),
    ("non", "no", None, None),
    ("Non merci", "no", None, None),
    ("nan", "no", None, None),
    ("pas d'accord", "no", None, None),
    ("abstention", "abstain", None, None),
    ("je m'abstiens", "abstain", None, None),
    ("je m’abstiens", "abstain", None, None),
    ("vote blanc", "abstain", None, None),
    ("blanc", "abstain", None, None),
    # Portuguese
    ("sim", "yes", None, None),
    ("Sim", "yes", None, None),
    ("sim obrigado", "yes", None, None),
    ("não", "no", None, None),
    ("nao", "no", None, None),
    ("NÃO", "no", None, None),
    ("não obrigada", "no", None, None),
    ("abstenção", "abstain", None, None),
    ("abstencao", "abstain", None, None),
    ("me abstenho", "abstain", None, None),
    ("concordo", "yes", None, None),
    # Polish
    ("tak", "yes", None, None),
    ("Tak", "yes", None, None),
    ("tak dziękuję", "yes", None, None),
    ("nie", "no", None, None),
    ("NIE", "no", None, None),
    ("nie dziękuję", "no", None, None),
    ("nie zgadzam się", "no", None, None),
    ("zgadzam się", "yes", None, None),
    ("wstrzymuję się", "abstain", None, None),
    ("wstrzymuje sie", "abstain", None, None),
    # Romanian
    ("da", "yes", None, None),
    ("Da", "yes", None, None),
    ("da mulțumesc", "yes", None, None),
    ("nu", "no", None, None),
    ("NU", "no", None, None),
    ("nu mersi", "no", None, None),
    ("mă abțin", "abstain", None, None),
    ("ma abtin", "abstain", None, None),
    ("mă abţin", "abstain", None, None),  # cedilla t, as old keyboards type it
    ("abținere", "abstain", None, None),
    ("abțineri", "abstain", None, None),  # "abstentions", as the results text says
    ("de acord", "yes", None, None),
    # Arabic, with bidi marks, harakat and tatweel
    ("نعم", "yes", None, None),
    ("ايوه", "yes", None, None),
    ("أيوه", "yes", None, None),
    ("نَعَم", "yes", None, None),
    ("نعـــم", "yes", None, None),
    ("نعممم", "yes", None, None),
    (RLM + "نعم" + RLM, "yes", None, None),
    (RLE + "نعم" + PDF, "yes", None, None),
    ("نعم شكرا", "yes", None, None),
    ("لا", "no", None, None),
    ("لأ", "no", None, None),
    ("لاااا", "no", None, None),
    ("لا شكراً", "no", None, None),
    (RLI + "لا" + PDI, "no", None, None),
    ("لا أوافق", "no", None, None),
    ("موافق", "yes", None, None),
    ("امتناع", "abstain", None, None),
    ("ممتنع", "abstain", None, None),
    ("أمتنع", "abstain", None, None),
    # Urdu (and Roman Urdu)
    ("ہاں", "yes", None, None),
    ("جی ہاں", "yes", None, None),
    ("جی", "yes", None, None),
    ("ہاں جی", "yes", None, None),
    ("ہاں شکریہ", "yes", None, None),
    ("نہیں", "no", None, None),
    ("جی نہیں", "no", None, None),
    ("نہيں", "no", None, None),  # Arabic yeh instead of Farsi yeh
    ("نهیں", "no", None, None),  # Arabic heh instead of heh goal
    ("غیر جانبدار", "abstain", None, None),
    ("haan", "yes", None, None),
    ("nahi", "no", None, None),
    # Bengali
    ("হ্যাঁ", "yes", None, None),
    ("হ্যা", "yes", None, None),
    ("হাঁ", "yes", None, None),
    ("হ্যাঁ ধন্যবাদ", "yes", None, None),
    ("না", "no", None, None),
    ("না ধন্যবাদ", "no", None, None),
    ("বিরত", "abstain", None, None),
    ("বিরত থাকব", "abstain", None, None),
    # numbered options, any digits
    ("1", "1", None, None),
    ("2", "2", None, None),
    ("99", "99", None, None),
    ("02", "2", None, None),
    ("2.", "2", None, None),
    ("#2", "2", None, None),
    ("(3)", "3", None, None),
    ("٣", "3", None, None),
    ("۳", "3", None, None),
    ("৩", "3", None, None),
    ("३", "3", None, None),
    ("١٢", "12", None, None),
    ("2" + VS16 + "\u20e3", "2", None, None),
    ("option 2", "2", None, None),
    ("Option 3 please", "3", None, None),
    ("opción 2", "2", None, None),
    ("choice 4", "4", None, None),
    ("2 2", "2", None, None),
    # codes before and after the vote
    ("P12 yes", "yes", "P12", None),
    ("p12 YES", "yes", "P12", None),
    ("P12: no", "no", "P12", None),
    ("P12:no", "no", "P12", None),
    ("#p12 yes", "yes", "P12", None),
    ("(P12) yes", "yes", "P12", None),
    ("P12yes", "yes", "P12", None),
    ("yes p12", "yes", "P12", None),
    ("YES P12", "yes", "P12", None),
    ("yes, P12", "yes", "P12", None),
    ("no #P12", "no", "P12", None),
    ("yes to P12", "yes", "P12", None),
    ("yes for p12 please", "yes", "P12", None),
    ("Q2024 abstain", "abstain", "Q2024", None),
    ("AB3 y", "yes", "AB3", None),
    ("ab3 n", "no", "AB3", None),
    ("P12 2", "2", "P12", None),
    ("P12 ٢", "2", "P12", None),
    ("2 P12", "2", "P12", None),
    ("P١٢ نعم", "yes", "P12", None),
    ("نعم P12", "yes", "P12", None),
    ("hi P12 yes", "yes", "P12", None),
    ("P12 I vote no", "no", "P12", None),
    ("P 12 yes", "yes", "P12", None),
    ("p-12 yes", "yes", "P12", None),
    ("yes p 12", "yes", "P12", None),
    ("change my vote to no", "no", None, None),
    ("I vote for option 2", "2", None, None),
    ("P12 👍", "yes", "P12", None),
    ("P12 oui", "yes", "P12", None),
    ("P12 tak", "yes", "P12", None),
    (RLM + "P12 لا" + RLM, "no", "P12", None),
    # a vote and a comment: the comment keeps its original casing
    ("yes but only if it's weekends", "yes", None, "but only if it's weekends"),
    ("Yes but only if it's weekends", "yes", None, "but only if it's weekends"),
    ("No, too expensive", "no", None, "too expensive"),
    ("NO - Too Expensive!", "no", None, "Too Expensive!"),
    ("YES: But Only On Weekends", "yes", None, "But Only On Weekends"),
    ("yes please, but only on weekends", "yes", None, "please, but only on weekends"),
    ("yes yes but quickly", "yes", None, "but quickly"),
    ("👍 love it", "yes", None, "love it"),
    ("👍🏽love it", "yes", None, "love it"),
    ("abstain: I don't live there", "abstain", None, "I don't live there"),
    ("yes, and I live at flat B12", "yes", None, "and I live at flat B12"),
    ("no I don't agree with B12 either", "no", None, "I don't agree with B12 either"),
    ("yes p12 but only weekends", "yes", "P12", "but only weekends"),
    ("P12 yes but only weekends", "yes", "P12", "but only weekends"),
    ("P12: no - the road is too narrow", "no", "P12", "the road is too narrow"),
    ("y, but later", "yes", None, "but later"),
    ("y but later", "yes", None, "but later"),
    ("a, I don't live there", "abstain", None, "I don't live there"),
    ("2 because it is cheaper", "2", None, "because it is cheaper"),
    ("2, the blue one", "2", None, "the blue one"),
    ("2 - the blue one", "2", None, "the blue one"),
    ("P12 2 the blue one", "2", "P12", "the blue one"),
    ("option 2 the blue one", "2", None, "the blue one"),
    ("yes no", None, None, None),  # conflicting: see TEXT
    ("oui mais seulement le weekend", "yes", None, "mais seulement le weekend"),
    ("non, trop cher", "no", None, "trop cher"),
    ("sí, pero solo los fines de semana", "yes", None, "pero solo los fines de semana"),
    ("si, pero solo los fines de semana", "yes", None, "pero solo los fines de semana"),
    ("si pero solo los fines de semana", "yes", None, "pero solo los fines de semana"),
    ("no porque es caro", "no", None, "porque es caro"),
    ("sim, mas só aos domingos", "yes", None, "mas só aos domingos"),
    ("não porque é caro", "no", None, "porque é caro"),
    ("tak, ale tylko w weekendy", "yes", None, "ale tylko w weekendy"),
    ("nie bo za drogo", "no", None, "bo za drogo"),
    ("da, dar numai în weekend", "yes", None, "dar numai în weekend"),
    ("nu pentru că e scump", "no", None, "pentru că e scump"),
    ("ie, ond dim ond ar y penwythnos", "yes", None, "ond dim ond ar y penwythnos"),
    ("ie ond dim ond ar y penwythnos", "yes", None, "ond dim ond ar y penwythnos"),
    ("na, mae'n rhy ddrud", "no", None, "mae'n rhy ddrud"),
    ("نعم، لكن فقط في عطلة نهاية الأسبوع", "yes", None, "لكن فقط في عطلة نهاية الأسبوع"),
    ("لا لأنه مكلف", "no", None, "لأنه مكلف"),
    ("ہاں لیکن صرف ہفتے کے آخر میں", "yes", None, "لیکن صرف ہفتے کے آخر میں"),
    ("نہیں، یہ مہنگا ہے", "no", None, "یہ مہنگا ہے"),
    ("হ্যাঁ, কিন্তু শুধু সপ্তাহান্তে", "yes", None, "কিন্তু শুধু সপ্তাহান্তে"),
    ("না কারণ এটা ব্যয়বহুল", "no", None, "কারণ এটা ব্যয়বহুল"),
]


@pytest.mark.parametrize(("text", "choice", "code", "comment"), [v for v in VOTES if v[1]])
def test_vote(text: str, choice: str, code: str | None, comment: str | None) -> None:
    intent = parse(text)
    assert (intent.kind, intent.choice, intent.code, intent.comment) == (
        "vote",
        choice,
        code,
        comment,
    )


# (text, hint)
HINTS = [
    ("oui", "fr"),
    ("non", "fr"),
    ("sí", "es"),
    ("si", None),  # Spanish without the accent, and French "si"
    ("no", None),  # English and Spanish
    ("yes", "en"),
    ("abstain", "en"),
    ("tak", "pl"),
    ("nie", "pl"),
    ("da", "ro"),
    ("nu", "ro"),
    ("ie", "cy"),
    ("na", "cy"),
    ("ymatal", "cy"),
    ("sim", "pt"),
    ("nao", "pt"),
    ("نعم", "ar"),
    ("لا", "ar"),
    ("ہاں", "ur"),
    ("হ্যাঁ", "bn"),
    ("না", "bn"),
    ("👍", None),
    ("2", None),
    ("stop", None),
    ("stopio", "cy"),
    ("baja", "es"),
    ("arrêt", "fr"),
    ("aide", "fr"),
    ("ajutor", "ro"),
    ("pomoc", "pl"),
    ("iaith", "cy"),
    ("idioma", None),  # Spanish and Portuguese
    ("ভাষা", "bn"),
    ("wyniki", "pl"),
    ("mwy", "cy"),
    ("hello", None),
]


@pytest.mark.parametrize(("text", "hint"), HINTS)
def test_hint(text: str, hint: str | None) -> None:
    assert parse(text).hint == hint


# --------------------------------------------------------------------------- stop

# (text, code)
STOPS = [
    ("stop", None),
    ("STOP", None),
    ("Stop!", None),
    ("STOP!!!", None),
    ("stop.", None),
    (" stop ", None),
    ("StOp", None),
    ("stopall", None),
    ("STOPALL", None),
    ("stop all", None),
    ("unsubscribe", None),
    ("Unsubscribe me", None),
    ("cancel", None),
    ("CANCEL", None),
    ("end", None),
    ("END", None),
    ("quit", None),
    ("opt out", None),
    ("optout", None),
    ("opt-out", None),
    ("stop please", None),
    ("please stop", None),
    ("Please STOP.", None),
    ("Stop texting me", None),
    ("stop sending me messages", None),
    ("please stop texting me thank you", None),
    ("can you please stop sending me these messages", None),
    ("STOP STOP STOP", None),
    ("STOP " * 30, None),
    ("S.T.O.P", None),
    ("s t o p", None),
    ("stop now", None),
    ("stop it", None),
    ("stop texting me I'm not interested", None),
    ("I want to unsubscribe", None),
    ("remove me", None),
    ("Remove my number", None),
    ("Please remove me from your list", None),
    ("delete my number", None),
    ("take me off your list", None),
    ("How do I stop these messages?", None),
    ("no more texts", None),
    ("don't text me", None),
    ("no stop", None),
    ("no, stop!", None),
    ("yes stop", None),
    ("Stop 😡", None),
    ("stpo", None),
    ("sotp", None),
    ("stopp", None),
    ("stooop", None),
    ("unsubscibe", None),
    ("unsubscrbe", None),
    ("cancle", None),
    ("STOP P12", "P12"),
    ("P12 stop", "P12"),
    (ZWSP + "STOP", None),
    ("ＳＴＯＰ", None),
    # Spanish
    ("baja", None),
    ("BAJA", None),
    ("parar", None),
    ("alto", None),
    ("darme de baja", None),
    ("dar de baja", None),
    ("cancelar", None),
    ("para por favor", None),
    ("no más mensajes", None),
    # French
    ("arrêt", None),
    ("arret", None),
    ("ARRÊT", None),
    ("arrêter", None),
    ("arreter", None),
    ("arrêtez s'il vous plaît", None),
    ("désabonner", None),
    ("desabonner", None),
    ("me désabonner", None),
    ("stop svp", None),
    # Welsh
    ("stopio", None),
    ("dad-danysgrifio", None),
    ("dad danysgrifio", None),
    ("stopio os gwelwch yn dda", None),
    ("stop plis", None),
    # Portuguese
    ("pare", None),
    ("sair", None),
    ("pare por favor", None),
    ("cancelar inscrição", None),
    # Polish
    ("koniec", None),
    ("wypisz mnie", None),
    ("rezygnuję", None),
    ("stop proszę", None),
    # Romanian
    ("dezabonare", None),
    ("oprește", None),
    ("opreste", None),
    ("stop vă rog", None),
    # Arabic
    ("توقف", None),
    ("الغاء", None),
    ("إلغاء", None),
    ("إلغاء الاشتراك", None),
    ("ايقاف", None),
    ("توقف من فضلك", None),
    (RLM + "توقف" + RLM, None),
    # Urdu
    ("بند کریں", None),
    ("بند", None),
    ("روکیں", None),
    ("بند کرو", None),
    ("ختم", None),
    # Bengali
    ("বন্ধ", None),
    ("বন্ধ করুন", None),
    ("থামুন", None),
    ("বাতিল", None),
]


@pytest.mark.parametrize(("text", "code"), STOPS)
def test_stop(text: str, code: str | None) -> None:
    intent = parse(text)
    assert (intent.kind, intent.code) == ("stop", code)


# --------------------------------------------------------------------------- start

STARTS = [
    "start",
    "START",
    "Start.",
    "unstop",
    "UNSTOP",
    "join",
    "JOIN please",
    "subscribe",
    "start again",
    "opt in",
    "sign me up",
    "strat",
    "unirse",
    "alta",
    "darme de alta",
    "rejoindre",
    "ymuno",
    "dechrau",
    "dołącz",
    "dolacz",
    "entrar",
    "începe",
    "انضمام",
    "اشتراك",
    "شروع",
    "شامل",
    "শুরু",
    "যোগ দিন",
]


@pytest.mark.parametrize("text", STARTS)
def test_start(text: str) -> None:
    assert parse(text).kind == "start"


# --------------------------------------------------------------------------- help, info, results

# (text, kind, code)
COMMANDS = [
    ("help", "help", None),
    ("HELP", "help", None),
    ("Help!", "help", None),
    ("help please", "help", None),
    ("help me", "help", None),
    ("I need help", "help", None),
    ("hepl", "help", None),
    ("info", "help", None),
    ("INFO", "help", None),
    ("Info?", "help", None),
    ("info please", "help", None),
    ("ayuda", "help", None),
    ("aide", "help", None),
    ("aidez-moi", "help", None),
    ("cymorth", "help", None),
    ("ajuda", "help", None),
    ("pomoc", "help", None),
    ("ajutor", "help", None),
    ("مساعدة", "help", None),
    ("مدد", "help", None),
    ("সাহায্য", "help", None),
    ("gwybodaeth", "help", None),
    ("información", "help", None),
    ("info P12", "info", "P12"),
    ("INFO p12", "info", "P12"),
    ("info: P12", "info", "P12"),
    ("info #p12", "info", "P12"),
    ("Info p 12", "info", "P12"),
    ("What's P12?", "info", "P12"),
    ("P12 info", "info", "P12"),
    ("P12", "info", "P12"),
    ("p12", "info", "P12"),
    ("#P12", "info", "P12"),
    ("P12?", "info", "P12"),
    ("(P12)", "info", "P12"),
    ("what is P12?", "info", "P12"),
    ("Q2024", "info", "Q2024"),
    ("ab3", "info", "AB3"),
    ("P١٢", "info", "P12"),
    ("more", "info", None),
    ("MORE", "info", None),
    ("more info", "info", None),
    ("more please", "info", None),
    ("tell me more", "info", None),
    ("more p12", "info", "P12"),
    ("more info P12", "info", "P12"),
    ("P12 more", "info", "P12"),
    ("más", "info", None),
    ("mas", "info", None),
    ("más información", "info", None),
    ("plus", "info", None),
    ("plus d'infos", "info", None),
    ("mwy", "info", None),
    ("mais", "info", None),
    ("więcej", "info", None),
    ("wiecej", "info", None),
    ("mai mult", "info", None),
    ("المزيد", "info", None),
    ("مزید", "info", None),
    ("আরও", "info", None),
    ("আরও P12", "info", "P12"),
    ("results", "results", None),
    ("RESULTS", "results", None),
    ("results P12", "results", "P12"),
    ("results for P12", "results", "P12"),
    ("results: #p12", "results", "P12"),
    ("P12 results", "results", "P12"),
    ("result", "results", None),
    ("resluts", "results", None),
    ("the results please", "results", None),
    ("what are the results?", "results", None),
    ("resultados", "results", None),
    ("résultats", "results", None),
    ("resultats P12", "results", "P12"),
    ("canlyniadau", "results", None),
    ("wyniki", "results", None),
    ("rezultate", "results", None),
    ("النتائج", "results", None),
    ("نتائج P12", "results", "P12"),
    ("ফলাফল", "results", None),
    # LINK, in every language whatever the member's own, optionally with a code.
    ("link", "link", None),
    ("LINK", "link", None),
    ("Link?", "link", None),
    ("link please", "link", None),
    ("my link", "link", None),
    ("send me my link", "link", None),
    ("send me the link please", "link", None),
    ("links", "link", None),
    ("web link", "link", None),
    ("link P12", "link", "P12"),
    ("LINK p12", "link", "P12"),
    ("link for P12", "link", "P12"),
    ("link: #p12", "link", "P12"),
    ("P12 link", "link", "P12"),
    ("dolen", "link", None),
    ("linc P12", "link", "P12"),
    ("enlace", "link", None),
    ("mi enlace P12", "link", "P12"),
    ("vínculo", "link", None),
    ("lien", "link", None),
    ("mon lien", "link", None),
    ("lien P12", "link", "P12"),
    ("meu link", "link", None),
    ("łącze", "link", None),
    ("lacze", "link", None),
    ("odnośnik P12", "link", "P12"),
    ("linkul", "link", None),
    ("legătura", "link", None),
    ("legatura P12", "link", "P12"),
    ("رابط", "link", None),
    ("الرابط P12", "link", "P12"),
    ("لنک", "link", None),
    ("لنک P12", "link", "P12"),
    ("লিংক", "link", None),
    ("লিঙ্ক P12", "link", "P12"),
]


@pytest.mark.parametrize(("text", "kind", "code"), COMMANDS)
def test_command(text: str, kind: str, code: str | None) -> None:
    intent = parse(text)
    assert (intent.kind, intent.code) == (kind, code)


# --------------------------------------------------------------------------- language

# (text, language, argument)
LANGUAGE = [
    ("lang", None, None),
    ("LANG", None, None),
    ("language", None, None),
    ("Language?", None, None),
    ("iaith", None, None),
    ("idioma", None, None),
    ("langue", None, None),
    ("língua", None, None),
    ("język", None, None),
    ("limba", None, None),
    ("لغة", None, None),
    ("زبان", None, None),
    ("ভাষা", None, None),
    ("change language", None, None),
    ("lang cy", "cy", None),
    ("LANG CY", "cy", None),
    ("lang en", "en", None),
    ("lang es", "es", None),
    ("lang ar", "ar", None),
    ("lang welsh", "cy", None),
    ("language Welsh", "cy", None),
    ("lang cymraeg", "cy", None),
    ("iaith Cymraeg", "cy", None),
    ("iaith saesneg", "en", None),
    ("lang english", "en", None),
    ("idioma español", "es", None),
    ("idioma espanol", "es", None),
    ("idioma en español", "es", None),
    ("lang spanish", "es", None),
    ("langue français", "fr", None),
    ("langue francais", "fr", None),
    ("lang french", "fr", None),
    ("língua portuguesa", "pt", None),
    ("lingua portugues", "pt", None),
    ("lang portuguese", "pt", None),
    ("język polski", "pl", None),
    ("jezyk polski", "pl", None),
    ("lang polish", "pl", None),
    ("limba română", "ro", None),
    ("limba romana", "ro", None),
    ("lang romanian", "ro", None),
    ("lang arabic", "ar", None),
    ("لغة العربية", "ar", None),
    ("اللغة العربية", "ar", None),
    ("لغة عربي", "ar", None),
    ("lang urdu", "ur", None),
    ("زبان اردو", "ur", None),
    ("lang bengali", "bn", None),
    ("lang bangla", "bn", None),
    ("ভাষা বাংলা", "bn", None),
    ("lang 1", "en", None),
    ("lang 2", "cy", None),
    ("LANG 3", "es", None),
    ("lang 7", "ro", None),
    ("LANG 10", "bn", None),
    ("lang ٨", "ar", None),
    ("زبان ۹", "ur", None),
    ("ভাষা ১০", "bn", None),
    ("lang: 4", "fr", None),
    ("change language to welsh", "cy", None),
    ("language: welsh please", "cy", None),
    ("my language is Polish", "pl", None),
    ("newid iaith i gymraeg", "cy", None),
    ("lang pt-BR", "pt", None),
    ("langauge welsh", "cy", None),
    ("lang 0", None, "0"),
    ("lang 11", None, "11"),
    ("lang klingon", None, "klingon"),
    ("Lang Klingon!", None, "Klingon"),
    ("lang P12", None, "P12"),
]


@pytest.mark.parametrize(("text", "language", "argument"), LANGUAGE)
def test_language(text: str, language: str | None, argument: str | None) -> None:
    intent = parse(text)
    assert (intent.kind, intent.language, intent.argument) == ("language", language, argument)


def test_language_hint_is_the_keywords_language() -> None:
    assert parse("iaith saesneg").hint == "cy"
    assert parse("langue anglais").hint == "fr"


# --------------------------------------------------------------------------- free text

# (text, code): anything else is a comment, returned whole
TEXT = [
    ("the link does not work", None),
    ("P12 link the two bus routes please", "P12"),
    ("we should stop the road closure", None),
    ("Don't stop the project", None),
    ("I don't want to stop", None),
    ("the bus stop is too far", None),
    ("Please don't cancel the market, it is the only place I can afford to shop", None),
    ("end of the day it's fine", None),
    ("start the project next year", None),
    ("cancel it", None),
    ("end it", None),
    ("cancel the consultation", None),
    ("remove the bins from the car park", None),
    ("How do I stop the road closing?", None),
    ("Who gave you my number?", None),
    ("No comment", None),
    ("Welsh please", None),
    ("Can I change my vote?", None),
    ("I agree with Sarah that it is a bad idea", None),
    ("join the two parks together", None),
    ("help with my rent", None),
    ("more buses please would be good", None),
    ("language barriers are a real problem here", None),
    ("result is fine by me but the process was not", None),
    ("I live at flat B12", None),
    ("We met at B12 last week", None),
    ("P12 I think it's a good idea", "P12"),
    ("P12 maybe", "P12"),
    ("ok", None),
    ("OK", None),
    ("okay", None),
    ("thanks", None),
    ("Thank you!", None),
    ("hello", None),
    ("what is this?", None),
    ("who is this", None),
    ("English", None),
    ("welsh", None),
    ("Cymraeg", None),
    ("العربية", None),
    ("বাংলা", None),
    ("no one asked me about this", None),
    ("No idea", None),
    ("no sé", None),
    ("No se", None),
    ("não sei", None),
    ("nie wiem", None),
    ("nu știu", None),
    ("nu stiu", None),
    ("لا أعرف", None),
    ("not sure", None),
    ("yes no", None),
    ("yes and no", None),
    ("👍👎", None),
    ("si llueve no voy", None),
    ("a lot of people agree", None),
    ("do you know when it starts?", None),
    ("na pewno nie", None),
    ("2 people came to the meeting", None),
    ("0", None),
    ("150", None),
    ("100", None),
    ("1.5", None),
    ("😊", None),
    ("❤️", None),
    ("🤷", None),
    ("note", None),
    ("maybe", None),
    ("quizás", None),
    ("peut-être", None),
    ("شاید", None),
    ("হয়তো", None),
    ("The lift in block C is broken again", None),
]


@pytest.mark.parametrize(("text", "code"), TEXT)
def test_text(text: str, code: str | None) -> None:
    intent = parse(text)
    assert intent == Intent("text", code=code, comment=text.strip())


def test_text_keeps_original_whitespace_trimmed() -> None:
    text = "  \tThe lift is broken.  \n"
    assert parse(text) == Intent("text", comment="The lift is broken.")


def test_rtl_text_is_kept_verbatim() -> None:
    text = RLM + "الطريق مغلق منذ أسبوع" + RLM
    assert parse(text) == Intent("text", comment=text)


# --------------------------------------------------------------------------- long input


def test_long_comment_after_vote() -> None:
    body = " ".join(["the bins on Elm Road are never collected on time"] * 40)
    assert len(body) > 1600
    intent = parse("yes, " + body)
    assert (intent.kind, intent.choice, intent.comment) == ("vote", "yes", body)


def test_long_text() -> None:
    text = "stop " + "x" * 1700
    intent = parse(text)
    assert intent.kind == "text"
    assert intent.comment == text


def test_long_text_with_stop_later_is_not_stop() -> None:
    text = ("We should stop the closure of the library. " * 40).strip()
    assert len(text) > 1600
    assert parse(text) == Intent("text", comment=text)


def test_long_unbroken_input() -> None:
    assert parse("ا" * 2000).kind == "text"
    assert parse("!" * 2000).kind == "empty"
    assert parse("👍" * 800) == Intent("vote", choice="yes")
    assert parse("yes " * 400) == Intent("vote", choice="yes", hint="en")
    assert parse("stop! " * 300).kind == "stop"


def test_normalise_long_input() -> None:
    text = "Yes, BUT " * 300
    assert normalise(text) == " ".join(["yes but"] * 300)


# --------------------------------------------------------------------------- interface


def test_languages_order_is_the_menu() -> None:
    assert LANGUAGES == ("en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn")
    for number, code in enumerate(LANGUAGES, start=1):
        assert parse(f"lang {number}").language == code


NAMES = [
    ("en", "English"),
    ("cy", "Cymraeg"),
    ("es", "Español"),
    ("fr", "Français"),
    ("pt", "Português"),
    ("pl", "Polski"),
    ("ro", "Română"),
    ("ar", "العربية"),
    ("ur", "اردو"),
    ("bn", "বাংলা"),
]


@pytest.mark.parametrize(("code", "name"), NAMES)
def test_language_name(code: str, name: str) -> None:
    assert language_name(code) == name


@pytest.mark.parametrize(("code", "name"), NAMES)
def test_native_name_after_lang_word_selects_language(code: str, name: str) -> None:
    assert parse(f"lang {name}").language == code


def test_language_name_unknown_code() -> None:
    with pytest.raises(KeyError):
        language_name("xx")


def test_intent_is_frozen_and_slotted() -> None:
    intent = parse("yes")
    with pytest.raises(dataclasses.FrozenInstanceError):
        intent.kind = "no"  # type: ignore[misc]
    assert not hasattr(intent, "__dict__")


def test_intent_defaults() -> None:
    assert Intent("help") == Intent(
        "help", code=None, choice=None, comment=None, language=None, argument=None, hint=None
    )


KINDS = {"stop", "start", "help", "language", "vote", "info", "results", "link", "text", "empty"}


@pytest.mark.parametrize(
    "text",
    [t for t, *_ in VOTES]
    + [t for t, _ in STOPS]
    + STARTS
    + [t for t, *_ in COMMANDS]
    + [t for t, *_ in LANGUAGE]
    + [t for t, _ in TEXT]
    + EMPTY,
)
def test_every_intent_is_well_formed(text: str) -> None:
    intent = parse(text)
    assert intent.kind in KINDS
    if intent.code is not None:
        assert intent.code.isascii() and intent.code == intent.code.upper()
    if intent.kind == "vote":
        assert intent.choice in {"yes", "no", "abstain"} or 1 <= int(intent.choice) <= 99
    else:
        assert intent.choice is None
    if intent.kind == "text":
        assert intent.comment == text.strip()
    if intent.language is not None:
        assert intent.language in LANGUAGES
    if intent.hint is not None:
        assert intent.hint in LANGUAGES
    assert parse(text) == intent  # deterministic, no state


# --------------------------------------------------------------------------- robustness

_SMS_PIECES = [
    *"yesnoYESNO stpaP12 ,.!?:-'#()",
    *["👍", "👎", "🏽", VS16, ZWSP, RLM, "٣", "৩", "نعم", "لا", "হ্যাঁ", "না", "sí", "ł", "ț"],
    *["stop ", "yes ", "but ", "lang ", "info ", "p12 ", "please "],
]
_SMS_LIKE = st.lists(st.sampled_from(_SMS_PIECES), max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(_SMS_LIKE | st.text(max_size=60))
def test_parse_never_fails(text: str) -> None:
    intent = parse(text)
    assert intent.kind in KINDS
    if intent.kind == "text":
        assert intent.comment == text.strip()
    if intent.kind == "empty":
        assert normalise(text) == ""
    if intent.kind == "vote" and intent.comment is not None:
        assert intent.comment and intent.comment in text
    assert normalise(normalise(text)) == normalise(text)


def test_many_distinct_characters() -> None:
    text = "".join(map(chr, range(0x4E00, 0x4E00 + 20000)))
    assert parse(text) == Intent("text", comment=text)
    assert normalise(text) == text
