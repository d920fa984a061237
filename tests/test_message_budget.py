"""Every SMS kind, in every language, with worst-case values, fits its segment budget.

System messages fit ONE GSM-7 segment in English and at most TWO segments in every
other language. The worst values (longest codes, largest numbers, each plural form,
the longest ORG_NAME and date, option labels in Welsh, Polish, Romanian, French,
Arabic, emoji and GSM-7 escapes, the language's own vote words) are those of
app/domain/system_texts.py, which the staff page and the translation import use too.
Kinds are found in messages/, so a kind added later is covered; a template variable
without worst values there fails here. Staff words shorten by the rule of
app/sms/render.py: tests/test_shortening.py proves it for any words the API accepts.
"""

from __future__ import annotations

import gettext

import pytest
from babel.messages.pofile import read_po

from app import create_app
from app.config import LANGUAGES, ROOT
from app.domain import system_texts
from app.domain.system_texts import Catalog, worst_case, worst_cases
from app.sms import segments
from app.sms.render import STEPS, Option, budget, draw, kinds, render, render_fitted, shown
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def texts_app():
    """One app for rendering (no database is touched): the checks below are many."""
    return create_app(make_settings())


def worst_values(kind: str, language: str = "en") -> dict[str, object]:
    """The values of the costliest worst case of `kind` in `language` (app context)."""
    return worst_case(kind, Catalog(language)).values


def test_there_are_kinds():
    """The glob finds the message templates (guards against a wrong MESSAGES_DIR)."""
    assert {"help", "opted_out", "vote_recorded", "welcome"} <= set(kinds())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", kinds())
def test_fits_budget(texts_app, kind, language):
    """One GSM-7 segment in English, two segments at most in any other language, in
    every worst case, as the member receives it (after the shortening rule)."""
    with texts_app.app_context():
        cases = worst_cases(kind, Catalog(language))
    assert cases
    for case in cases:
        info = case.fitted.info
        where = f"{kind}/{language} ({case.scenario or 'no staff words'})"
        assert case.text.strip(), f"{where} rendered empty"
        if language == "en":
            assert info.encoding == segments.GSM7, f"{where} is not GSM-7: {case.text!r}"
        assert info.segments <= budget(language), f"{where}: {info.segments} segments"
        assert case.within


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", kinds())
def test_the_last_step_fits_with_the_worst_system_values(texts_app, kind, language):
    """The guarantee behind the rule: with staff words as short as the last step makes
    them, every kind fits. So whatever staff write, some step fits."""
    last = STEPS[-1]
    with texts_app.app_context():
        catalog = Catalog(language)
        for _scenario, values in system_texts.value_sets(kind, catalog):
            text = draw(kind, language, {n: shown(v, last) for n, v in values.items()})
            info = segments.count(text)
            assert info.segments <= budget(language), f"{kind}/{language}: {text!r}"
            if language == "en":
                assert info.encoding == segments.GSM7, f"{kind}/en: {text!r}"


def test_confirmations_keep_plain_labels_and_drop_accented_ones_in_english(app):
    """The rule at work: a GSM-7 label stays; "Ŵyl" would make English UCS-2, so the
    number alone is sent; in French the accented label still fits two segments."""
    option = Option(2, "Ŵyl Haf")
    values = {"code": "P12", "receipt": "ACDEFG"}
    with app.app_context():
        plain = render("vote_recorded", "en", choice=Option(2, "Library"), **values)
        english = render_fitted("vote_recorded", "en", {"choice": option, **values})
        french = render_fitted("vote_recorded", "fr", {"choice": option, **values})
    assert "your vote 2 Library is counted" in plain
    assert "your vote 2 is counted" in english.text
    assert english.step == 1 and english.info.encoding == segments.GSM7
    assert "2 Ŵyl Haf" in french.text and french.step == 0


def test_english_avoids_characters_that_force_ucs2():
    """No curly quotes, dashes or emoji in the English source of any template."""
    for kind in kinds():
        source = (ROOT / "messages" / f"{kind}.txt").read_text()
        assert segments.is_gsm7(source.replace("{", "(").replace("}", ")")), kind


def test_missing_worst_value_is_reported(app, monkeypatch):
    """The guard above really fails for a variable VARIABLES does not know."""
    monkeypatch.delitem(system_texts.VARIABLES, "code")
    with app.app_context(), pytest.raises(KeyError, match="add its worst values"):
        worst_cases("vote_recorded", Catalog("en"))


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
