"""Every SMS kind, in every language, with worst-case values, fits its segment budget.

System messages fit ONE GSM-7 segment in English and at most TWO segments in every
other language. A template that uses a variable missing from WORST fails here, so
each new kind must say what its longest value can be.
"""

from __future__ import annotations

import gettext

import pytest
from babel.messages.pofile import read_po
from jinja2 import meta

from app.config import LANGUAGES, ROOT
from app.domain import grammar
from app.sms import segments
from app.sms.render import budget, environment, kinds, render

# Variable name -> its worst (longest) realistic value. Numbers are 9999, codes are the
# longest a code can be (3 letters + 4 digits), labels are cut to 20 characters.
WORST: dict[str, object] = {
    "org": "X" * 20,  # ORG_NAME: keep it to 20 characters (docs/texting.md)
    "code": "ABC1234",
    "other": "ABD1234",
    "receipt": "X" * 9,  # app.domain.votes.RECEIPT_LENGTH
    # A personal link (or a consultation's page) from a 40-character PUBLIC_BASE_URL:
    # "https://" + 32 characters, "/v/", a 12-character token (docs/texting.md).
    "url": "https://" + "x" * 32 + "/v/" + "X" * 12,
    # A choice as shown: "12 " + an option label cut to 20 characters, or YES/NO/ABSTAIN.
    "choice": "12 " + "X" * 20,
    "previous": "13 " + "Y" * 20,
    "count": 9999,
    "people": 9999,
    "comments": 9999,
    "yes": 9999,
    "no": 9999,
    "abstain": 9999,
    # Top five options of a choice tally, as inbound.tally_text builds it.
    "tally": "10:9999, 11:9999, 12:9999, 13:9999, 14:9999",
    "date": "Wednesday 30 September 23:59",
}


def _menu() -> str:
    from app.domain.inbound import language_menu

    return language_menu()


def variables(kind: str) -> set[str]:
    """The undeclared variables of a message template."""
    env = environment()
    source = env.loader.get_source(env, f"{kind}.txt")[0]
    return meta.find_undeclared_variables(env.parse(source))


def worst_values(kind: str, language: str = "en") -> dict[str, object]:
    """WORST restricted to the kind's variables (the language menu is computed)."""
    values = {}
    for name in variables(kind):
        if name == "menu":
            values[name] = _menu()
            continue
        if name == "name":  # language_set names the new language in its own script
            values[name] = grammar.language_name(language)
            continue
        assert name in WORST, f"messages/{kind}.txt uses {{{{ {name} }}}}: add it to WORST"
        values[name] = WORST[name]
    return values


def test_there_are_kinds():
    """The glob finds the message templates (guards against a wrong MESSAGES_DIR)."""
    assert {"help", "opted_out", "vote_recorded", "welcome"} <= set(kinds())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", kinds())
def test_fits_budget(app, kind, language):
    """One GSM-7 segment in English, two segments at most in any other language."""
    with app.app_context():
        text = render(kind, language, **worst_values(kind, language))
    info = segments.count(text)
    assert text.strip(), f"{kind}/{language} rendered empty"
    if language == "en":
        assert info.encoding == segments.GSM7, f"{kind}/en is not GSM-7: {text!r}"
    assert info.segments <= budget(language), f"{kind}/{language}: {info.segments} segments"


def test_english_avoids_characters_that_force_ucs2():
    """No curly quotes, dashes or emoji in the English source of any template."""
    for kind in kinds():
        source = (ROOT / "messages" / f"{kind}.txt").read_text()
        assert segments.is_gsm7(source.replace("{", "(").replace("}", ")")), kind


def test_missing_worst_value_is_reported(monkeypatch):
    """The guard above really fails for a variable WORST does not know."""
    monkeypatch.delitem(WORST, "code")
    with pytest.raises(AssertionError, match="add it to WORST"):
        worst_values("vote_recorded")


# --- plural forms -----------------------------------------------------------------

# n -> the plural form (msgstr index) each catalog must pick, from the CLDR rules.
# Welsh has six forms (Babel's own rule has five); Arabic's standard gettext order is
# zero, one, two, few (3-10), many (11-99), other (100-102...), which Babel gets wrong.
PLURAL_CASES: dict[str, tuple[int, dict[int, int]]] = {
    "en": (2, {0: 1, 1: 0, 2: 1, 5: 1}),
    "cy": (6, {0: 0, 1: 1, 2: 2, 3: 3, 4: 5, 5: 5, 6: 4, 7: 5, 11: 5, 12: 5, 100: 5}),
    "es": (2, {0: 1, 1: 0, 2: 1, 5: 1}),
    "fr": (2, {0: 0, 1: 0, 2: 1, 5: 1}),
    # European Portuguese (pt_PT): 0 is plural. Brazilian (n > 1) would make 0 singular.
    "pt": (2, {0: 1, 1: 0, 2: 1, 5: 1}),
    "pl": (3, {0: 2, 1: 0, 2: 1, 4: 1, 5: 2, 12: 2, 22: 1, 25: 2, 101: 2, 112: 2, 122: 1}),
    "ro": (3, {0: 1, 1: 0, 2: 1, 19: 1, 20: 2, 100: 2, 101: 1, 120: 2}),
    "ar": (6, {0: 0, 1: 1, 2: 2, 3: 3, 10: 3, 11: 4, 99: 4, 100: 5, 102: 5, 103: 3}),
    "ur": (2, {0: 1, 1: 0, 2: 1, 5: 1}),
    "bn": (2, {1: 0, 2: 1, 5: 1}),
}


def _catalog(language: str):
    path = ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


def test_every_language_has_plural_cases():
    """Each supported language is checked below."""
    assert set(PLURAL_CASES) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_plural_forms_header(language):
    """The catalog's Plural-Forms header follows CLDR (cy: 0,1,2,3,6 each their own form)."""
    catalog = _catalog(language)
    nplurals, cases = PLURAL_CASES[language]
    assert catalog.num_plurals == nplurals
    plural = gettext.c2py(catalog.plural_expr)
    for n, index in cases.items():
        assert plural(n) == index, f"{language}: n={n} should use form {index}"


@pytest.mark.parametrize("language", ["cy", "ar"])
def test_rendered_plural_uses_the_catalog_form(app, language):
    """results_yes_no for each n shows the catalog's form for n (English until translated).

    Checks the whole path: the compiled catalog's plural rule, Flask-Babel's locale
    and the Jinja pluralize block. A wrong header or rule picks the wrong form.
    """
    message = next(
        (m for m in _catalog(language) if m.pluralizable and m.id[0].startswith("%(code)s votes:")),
        None,
    )
    assert message is not None, "results_yes_no is not in the catalog: make translations-update"
    translated = all(message.string) and not message.fuzzy
    values = {"code": "P12", "yes": 1, "no": 2, "abstain": 3}
    for n, index in PLURAL_CASES[language][1].items():
        with app.app_context():
            text = render("results_yes_no", language, people=n, **values)
        # Untranslated, pybabel compile fills form 0 with the singular, the rest plural.
        english = message.id[0] if index == 0 else message.id[1]
        form = message.string[index] if translated else english
        assert text == form % {"count": n, **values}, f"{language} n={n}"
