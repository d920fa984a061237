"""Worst-case texts for SMS segment counting, shared by the Python tests and the browser
test of app/static/segments.js (which must count exactly as app/sms/segments.py does)."""

from __future__ import annotations

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair, two UCS-2 units
CYR = "ж"  # in the BMP, not GSM-7: one UCS-2 unit
GSM_EXTENSION = "^{}\\[~]|€\f"
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: (name, text): every boundary of app/sms/segments.py and the characters that move it.
WORST_CASES: list[tuple[str, str]] = [
    ("empty", ""),
    ("one", "a"),
    ("gsm-160", "a" * 160),
    ("gsm-161", "a" * 161),
    ("gsm-153x2", "a" * 306),
    ("gsm-153x2+1", "a" * 307),
    ("gsm-153x3", "a" * 459),
    ("gsm-153x3+1", "a" * 460),
    ("gsm-accents-160", "é" * 160),
    ("gsm-greek-161", "Δ" * 161),
    ("euro-fills-160", "a" * 158 + "€"),
    ("euro-overflows-160", "a" * 159 + "€"),
    ("brace-ends-part-1", "a" * 151 + "{" + "b" * 10),
    ("brace-moves-to-part-2", "a" * 152 + "{" + "b" * 10),
    ("extension-only-80", "€" * 80),
    ("extension-only-81", "€" * 81),
    ("every-extension", GSM_EXTENSION * 9),
    ("extension-mix", "[a]{b}^c~d|e\\f€" * 12),
    ("form-feed", "\f"),
    ("every-basic", GSM_BASIC),
    ("basic-and-newlines", "Line one\nLine two\n" * 10),
    ("ucs2-70", CYR * 70),
    ("ucs2-71", CYR * 71),
    ("ucs2-67x2", CYR * 134),
    ("ucs2-67x2+1", CYR * 135),
    ("ucs2-67x3", CYR * 201),
    ("emoji-fills-70", "a" * 68 + EMOJI),
    ("emoji-overflows-70", "a" * 69 + EMOJI),
    ("emoji-35", EMOJI * 35),
    ("emoji-36", EMOJI * 36),
    ("emoji-ends-part-1", CYR * 65 + EMOJI + CYR * 10),
    ("emoji-moves-to-part-2", CYR * 66 + EMOJI + CYR * 10),
    ("emoji-only-long", EMOJI * 100),
    ("gsm-then-one-emoji", "a" * 159 + EMOJI),
    ("euro-then-emoji", "€" * 70 + EMOJI),
    ("welsh-w-circumflex", "Mae'r ŵyn yn y cae, ŷ a ŵ"),
    ("welsh-160", "ŵ" * 160),
    ("arabic", "هل نفتح الحديقة يوم الأحد؟ أرسل نعم أو لا"),
    ("arabic-71", "ح" * 71),
    ("urdu", "کیا ہم اتوار کو باغ کھولیں؟"),
    ("bengali", "আমি তোমাকে ভালোবাসি"),
    ("curly-quote", "It\u2019s here"),
    ("backtick", "`"),
    ("zero-width-joiner-family", "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 12),
    ("flags", "\U0001f1ec\U0001f1e7\U0001f1fa\U0001f1e6" * 10),
    ("lone-surrogate", "a\ud800b"),
    ("python-spaces-at-ends", "\x85\u3000 Garden \u2028\xa0"),
    ("bom-at-ends", "\ufeffGarden\ufeff"),
]
